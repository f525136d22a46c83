using Leasehold.Engine;
using Microsoft.Extensions.Logging;

namespace Leasehold.Cluster;

/// <summary>The cluster's log events, 6000-6099.</summary>
internal static partial class Log
{
    [LoggerMessage(6001, LogLevel.Information, "Joined the cluster as node {Node} (etcd lease {Lease:x}, TTL {Ttl} s; open claims TTL {OpenTtl} s)")]
    public static partial void Joined(ILogger logger, string node, long lease, long ttl, long openTtl);

    [LoggerMessage(6002, LogLevel.Information, "Left the cluster: leases revoked")]
    public static partial void Left(ILogger logger);

    [LoggerMessage(6003, LogLevel.Debug, "Keepalive of etcd lease {Lease:x} on {Endpoint} did not count ({Reason}); trying the next member")]
    public static partial void KeepaliveFailed(ILogger logger, long lease, Uri endpoint, string reason);

    [LoggerMessage(6004, LogLevel.Debug, "Watch on {Prefix} restarts from revision {Revision}: {Reason}")]
    public static partial void WatchRestarted(ILogger logger, string prefix, long revision, string reason);

    [LoggerMessage(6005, LogLevel.Debug, "Gave rights {Dropped} on file {File} back for {Requester} ({Strength}); kept {Kept}")]
    public static partial void Yielded(ILogger logger, FileKey file, TokenRights dropped, string requester, TokenStrength strength, TokenRights kept);

    [LoggerMessage(6006, LogLevel.Warning, "Token work on file {File} failed: {Reason}")]
    public static partial void TokenWorkFailed(ILogger logger, FileKey file, string reason);

    [LoggerMessage(6010, LogLevel.Warning, "etcd unreachable for {Seconds:F1} s: no new delegations; recalling {Recalled} by {Deadline:F1} s from now")]
    public static partial void StopGranting(ILogger logger, double seconds, int recalled, double deadline);

    [LoggerMessage(6011, LogLevel.Error, "etcd silent for {Seconds:F1} s, so this node's lease may have expired: delegations revoked; opens and I/O go on for files this node holds rights on, opens of any other file answer NFS4ERR_DELAY until etcd answers")]
    public static partial void DelegationsRevoked(ILogger logger, double seconds);

    [LoggerMessage(6012, LogLevel.Information, "Rejoined the cluster with a new etcd lease {Lease:x}: re-claimed {Files} open files")]
    public static partial void Rejoined(ILogger logger, long lease, int files);

    [LoggerMessage(6013, LogLevel.Information, "etcd reachable again after {Seconds:F1} s with the same lease: granting delegations again")]
    public static partial void Reachable(ILogger logger, double seconds);

    [LoggerMessage(6014, LogLevel.Error, "Open claims lease expired (no answer for {Seconds:F1} s): every file right dropped; {Broken} grants revoked")]
    public static partial void OpenClaimsLost(ILogger logger, double seconds, int broken);

    [LoggerMessage(6015, LogLevel.Warning, "etcd lease {Lease:x} is gone: fenced until the node rejoins")]
    public static partial void LeaseGone(ILogger logger, long lease);

    [LoggerMessage(6016, LogLevel.Warning, "Rejoining the cluster failed, retrying: {Reason}")]
    public static partial void RejoinFailed(ILogger logger, string reason);

    [LoggerMessage(6017, LogLevel.Warning, "Node {Node}'s previous incarnation ({Holder}) is dead (this process holds its state directory): revoked its {Leases} etcd leases, so its tokens and open claims go now")]
    public static partial void PreviousIncarnationRevoked(ILogger logger, string node, string holder, int leases);

    [LoggerMessage(6018, LogLevel.Warning, "Left the cluster without revoking its etcd leases (etcd did not answer): other nodes can take its files' rights after {Ttl} s, and its open claims go after {OpenTtl} s")]
    public static partial void LeftUnrevoked(ILogger logger, long ttl, long openTtl);

    [LoggerMessage(6019, LogLevel.Debug, "Token work on file {File} failed while cut off from etcd: {Reason}")]
    public static partial void TokenWorkFailedWhileFenced(ILogger logger, FileKey file, string reason);
}
