using System.Text;
using Leasehold.Engine;
using Leasehold.Export;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.State;
using Leasehold.Nfs4.State.Recovery;
using Leasehold.Rpc.Server;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Leasehold.Nfs4;

/// <summary>
/// The NFSv4.1 server: the state tables, the exported tree and the lease engine, and the RPC program that serves
/// COMPOUNDs over them. A heartbeat on the injected clock expires clients whose lease ran out. Clients that may hold
/// state are kept in an <see cref="IClientRecordStore"/> (none: <see cref="NoClientRecords"/>, which keeps nothing); a
/// start that finds recorded clients runs a grace period (<see cref="Grace"/>) in which they reclaim (RFC 8881 §8.4.2.1).
/// </summary>
public sealed class Nfs4Server : IAsyncDisposable
{
    private readonly ITimer _heartbeat;

    /// <summary>Creates the server; opens <paramref name="records"/> (the caller keeps and disposes it), which throws <see cref="ClientRecordStoreException"/> when it is unreadable.</summary>
    /// <param name="clusterNode">
    /// This server's node name when it is one node of a cluster serving one shared tree (<see cref="ClusterNode"/>); null
    /// for a server on its own. The host checks the name (<c>[A-Za-z0-9._-]{1,63}</c>).
    /// </param>
    public Nfs4Server(IExportedTree tree, LeaseEngine engine, ExportOptions export, Nfs4Options? options = null, TimeProvider? time = null,
        ILoggerFactory? loggers = null, IClientRecordStore? records = null, string? clusterNode = null)
    {
        ClusterNode = clusterNode;
        Export = export;
        Options = options ?? new Nfs4Options();
        Options.Validate();
        DirectoryChanges = new Ops.DirectoryChanges(exportIsExclusive: Options.Delegations == State.DelegationPolicy.ExclusiveExport);
        Time = time ?? TimeProvider.System;
        Tree = tree;
        Engine = engine;
        Logger = (loggers ?? NullLoggerFactory.Instance).CreateLogger<Nfs4Server>();
        Records = records ?? new NoClientRecords();
        var recovery = Records.Open();
        Grace = new GracePeriod(Records, recovery, Options.EffectiveGraceTime, Time, Logger, () => Recorder!.RecordReclaimersHoldingStateAsync());
        States = new StateTable((ulong)Time.GetUtcNow().ToUnixTimeMilliseconds());
        Clients = new ClientTable(Options, Time, States.HoldsState, Grace);
        Recorder = new ClientRecorder(Records, Clients, States.HoldsState, Logger);
        Delegations = new DelegationRegistry(this);
        Metrics = new Nfs4Metrics(this);
        Recalls = new Callbacks.RecallSender(this);
        Offloads = new State.Offload.OffloadTable(this);
        BlockedLocks = new BlockedLocks(this);
        RangeLocks.Released = BlockedLocks.Released;
        Clients.ClientGone += client =>
        {
            Recalls.Forget(client);
            BlockedLocks.Forget(client);
            Offloads.CancelAll(client);
            Delegations.ReleaseAll(client);
            States.AdminRevoked.ForgetAll(client);
            foreach (var open in States.OpensOf(client))
                OpenRegistry.Close(this, open);
            _ = Recorder.ForgetAsync(client);
            // A record never confirmed by CREATE_SESSION is the first step of every mount (EXCHANGE_ID, then a second
            // one from the real client id): its going is no news to an operator, and it held nothing.
            if (client.Confirmed)
                Log.ClientGone(Logger, client.ClientId);
            else
                Log.UnconfirmedClientGone(Logger, client.ClientId);
        };
        // The epoch differs at every start that has stable storage; the random half tells apart two starts without it
        // (or two in the same millisecond of a frozen test clock), so a client always resends its unstable writes.
        BootVerifier = ((ulong)recovery.Epoch << 32) | (uint)System.Security.Cryptography.RandomNumberGenerator.GetInt32(int.MaxValue);
        // A cluster node is a server of its own to clients: each node has its own clients, sessions and state, so a
        // client that mounts two nodes must not take them for one server reached twice (RFC 8881 §2.10.5 trunking).
        ServerOwner = Encoding.UTF8.GetBytes(clusterNode is null ? $"leasehold-{Environment.MachineName}" : $"leasehold-{Environment.MachineName}-{clusterNode}");
        var fsid = clusterNode is null ? tree.FileSystemId : ClusterFsid(tree.RootHandle);
        Fattr = new Attributes.FattrContext((uint)Options.LeaseTime.TotalSeconds, (ulong)Options.MaxReadWriteSize, (ulong)Options.MaxReadWriteSize, fsid, tree.MaxFileSize);
        _fattr42 = Fattr.ForMinorVersion2(tree.Space?.CloneBlockSize ?? 0, tree.ExtendedAttributes is not null);
        Program = new Nfs4Program(this);
        // Expire on a quarter of the lease: a client is gone at most 1.25 lease times after its last SEQUENCE.
        var tick = Options.LeaseTime / 4;
        _heartbeat = Time.CreateTimer(static s => ((Nfs4Server)s!).Heartbeat(), this, tick, tick);
    }

    public IRpcProgram Program { get; }

    /// <summary>
    /// The node name when this server is one node of a cluster over one shared tree, else null. In a cluster:
    /// <list type="bullet">
    /// <item>the server owner's so_major_id and the server scope (RFC 8881 §2.10.4) are <c>leasehold-MACHINE-NODE</c>, so
    /// no client trunks two nodes into one server (their state is not shared);</item>
    /// <item>the fsid is <see cref="ClusterFsid"/> of the root handle, the same on every node, where a single server sends
    /// the export's device numbers, which differ between machines;</item>
    /// <item>a GETATTR of size, change, space used or the modify and metadata times first breaks for a read through the
    /// engine (<see cref="Ops.GetAttrOp"/>), so the node holds the right to read the file, and another node's write
    /// delegation is recalled before this node answers with attributes its holder may since have changed.</item>
    /// </list>
    /// </summary>
    public string? ClusterNode { get; }

    /// <summary>Whether this server is one node of a cluster (<see cref="ClusterNode"/> is set).</summary>
    public bool ClusterMode => ClusterNode is not null;

    /// <summary>
    /// The fsid (RFC 8881 §5.8.1.9) a cluster node sends for the export: the first 16 bytes of SHA-256 over the root
    /// handle's bytes, as two big-endian 64-bit halves (major, minor). Every node signs the same root handle (one shared
    /// handle key, one root inode), so every node sends the same fsid, and a client sees one filesystem on any of them.
    /// </summary>
    public static (ulong Major, ulong Minor) ClusterFsid(FileHandle rootHandle)
    {
        Span<byte> hash = stackalloc byte[System.Security.Cryptography.SHA256.HashSizeInBytes];
        System.Security.Cryptography.SHA256.HashData(rootHandle.Span, hash);
        return (System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(hash), System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(hash[8..]));
    }

    public Nfs4Options Options { get; }

    /// <summary>This server's instruments, on its own meter named <see cref="Nfs4Metrics.MeterName"/> (disposed with the server).</summary>
    public Nfs4Metrics Metrics { get; }

    /// <summary>Whether the grace period after this start is on (RFC 8881 §8.4.2.1): recorded clients reclaim, new opens and locks wait.</summary>
    public bool InGrace => Grace.InGrace;

    internal TimeProvider Time { get; }

    internal IExportedTree Tree { get; }

    /// <summary>How RPC identities become callers (root squash, anonymous mapping).</summary>
    internal ExportOptions Export { get; }

    internal LeaseEngine Engine { get; }

    internal ILogger Logger { get; }

    internal ClientTable Clients { get; }

    internal StateTable States { get; }

    /// <summary>The delegations handed out over the wire: grants on OPEN, recalls, returns.</summary>
    internal DelegationRegistry Delegations { get; }

    /// <summary>Sends CB_RECALL for broken delegations, retries it, and keeps recalls that wait for a back channel.</summary>
    internal Callbacks.RecallSender Recalls { get; }

    /// <summary>The asynchronous COPYs running or waiting for their CB_OFFLOAD answer (RFC 7862 §15.2.3).</summary>
    internal State.Offload.OffloadTable Offloads { get; }

    /// <summary>Directories this server is changing now: decides whether a change_info4 is atomic.</summary>
    internal Ops.DirectoryChanges DirectoryChanges { get; }

    /// <summary>Byte-range locks of every file (NFS LOCK/LOCKT/LOCKU); the rules live in the engine.</summary>
    internal RangeLockTable RangeLocks { get; } = new();

    /// <summary>Blocking LOCKs that were denied, told with CB_NOTIFY_LOCK when their lock may be free (§20.11).</summary>
    internal BlockedLocks BlockedLocks { get; }

    /// <summary>Changes at every start: the write verifier (a client resends unstable writes when it changes) and the server scope.</summary>
    internal ulong BootVerifier { get; }

    internal Attributes.FattrContext Fattr { get; }

    private readonly Attributes.FattrContext _fattr42;

    /// <summary>The attribute values and supported attributes a COMPOUND of <paramref name="minorVersion"/> sees (<see cref="Fattr"/> for 4.1).</summary>
    internal Attributes.FattrContext FattrFor(uint minorVersion) => minorVersion >= 2 ? _fattr42 : Fattr;

    internal byte[] ServerOwner { get; }

    /// <summary>Stable storage of the clients that may hold state.</summary>
    internal IClientRecordStore Records { get; }

    /// <summary>The grace period after this start (over at once when no client was recorded).</summary>
    internal GracePeriod Grace { get; }

    /// <summary>Keeps the client records in step with the client table (records, removals, retries after a failure).</summary>
    internal ClientRecorder Recorder { get; }

    private void Heartbeat()
    {
        var (expired, courtesy) = Clients.ExpireClients();
        if (expired > 0)
            Log.ClientsExpired(Logger, expired);
        if (courtesy > 0)
            Log.CourtesyClients(Logger, courtesy, Options.CourtesyTime);
        _ = Recorder.RetryAsync();
    }

    /// <summary>
    /// Expires the courtesy client <paramref name="clientId"/> (RFC 8881 §8.4.3) for the reason <paramref name="why"/>
    /// (a sentence that ends the log line: "another client's open conflicts with its share reservation"): its opens,
    /// locks and delegations go at once. False if it is not (or no longer) a courtesy client.
    /// </summary>
    internal bool ExpireCourtesyClient(ulong clientId, string why)
    {
        if (!Clients.ExpireCourtesy(clientId))
            return false;
        Log.CourtesyClientExpired(Logger, clientId, why);
        return true;
    }

    /// <summary>Stops the heartbeat and the grace period, and stops every asynchronous COPY, waiting until each has stopped.</summary>
    public async ValueTask DisposeAsync()
    {
        _heartbeat.Dispose();
        Grace.Dispose();
        await Offloads.StopAsync().ConfigureAwait(false);
        Offloads.Dispose();
        Metrics.Dispose();
    }
}

/// <summary>NFSv4 log events (ids 4xxx).</summary>
internal static partial class Log
{
    [LoggerMessage(4001, LogLevel.Information, "Client {ClientId:x16} is gone; its state is released")]
    public static partial void ClientGone(ILogger logger, ulong clientId);

    [LoggerMessage(4002, LogLevel.Information, "{Count} client(s) expired: no SEQUENCE within the lease time")]
    public static partial void ClientsExpired(ILogger logger, int count);

    [LoggerMessage(4008, LogLevel.Debug, "Unconfirmed client record {ClientId:x16} is gone (EXCHANGE_ID without CREATE_SESSION)")]
    public static partial void UnconfirmedClientGone(ILogger logger, ulong clientId);

    [LoggerMessage(4006, LogLevel.Information, "{Count} client(s) kept as courtesy clients: their lease ran out while they held opens, locks or delegations, which stay until another client needs them (at most {CourtesyTime})")]
    private static partial void CourtesyClients(ILogger logger, int count, string courtesyTime);

    public static void CourtesyClients(ILogger logger, int count, TimeSpan courtesyTime) =>
        CourtesyClients(logger, count, courtesyTime.TotalHours >= 1 && courtesyTime.TotalHours % 1 == 0 ? $"{courtesyTime.TotalHours:0} h" : $"{courtesyTime.TotalSeconds:0.###} s");

    [LoggerMessage(4007, LogLevel.Information, "Courtesy client {ClientId:x16} expired: {Why}")]
    public static partial void CourtesyClientExpired(ILogger logger, ulong clientId, string why);

    [LoggerMessage(4003, LogLevel.Error, "{Operation} failed unexpectedly (connection {ConnectionId}); replying NFS4ERR_SERVERFAULT")]
    public static partial void OperationFailed(ILogger logger, Exception exception, string operation, long connectionId);

    [LoggerMessage(4004, LogLevel.Information, "Client {ClientId:x16} created session {SessionId} ({Slots} slots)")]
    public static partial void SessionCreated(ILogger logger, ulong clientId, string sessionId, uint slots);

    [LoggerMessage(4005, LogLevel.Debug, "Bad XDR in {Operation} (connection {ConnectionId})")]
    public static partial void BadXdr(ILogger logger, string operation, long connectionId);

    [LoggerMessage(4104, LogLevel.Debug, "CB_RECALL of delegation {StateId} to client {ClientId:x16}: {Outcome}, {OpStatus}")]
    public static partial void RecallSent(ILogger logger, string stateId, ulong clientId, Callbacks.CbCallStatus outcome, Protocol.NfsStat4 opStatus);

    [LoggerMessage(4105, LogLevel.Warning, "CB_RECALL of delegation {StateId} to client {ClientId:x16} failed unexpectedly")]
    public static partial void RecallFailed(ILogger logger, Exception exception, string stateId, ulong clientId);

    [LoggerMessage(4110, LogLevel.Warning, "Delegation {StateId} on file {FileId} of client {ClientId:x16} revoked: not returned in time after CB_RECALL")]
    public static partial void DelegationRevoked(ILogger logger, string stateId, ulong fileId, ulong clientId);
}
