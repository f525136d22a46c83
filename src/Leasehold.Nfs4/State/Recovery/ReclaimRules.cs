using Leasehold.Export;
using Leasehold.Nfs4.Ops;
using Leasehold.Nfs4.Protocol;

namespace Leasehold.Nfs4.State.Recovery;

/// <summary>
/// Which operations the grace period holds back and who may reclaim (RFC 8881 §8.4.2.1, §15.1.9, §18.16.3, §18.10.4,
/// §18.51.3), in one place. A "reclaimable client" is one made during grace under a recorded name and principal
/// (<see cref="NfsClient.Reclaimer"/>) that has not sent RECLAIM_COMPLETE yet.
/// <list type="bullet">
/// <item>Reclaims (OPEN CLAIM_PREVIOUS, CLAIM_DELEGATE_PREV, CLAIM_DELEG_PREV_FH; LOCK reclaim): NFS4ERR_NO_GRACE
/// unless the client is reclaimable (outside grace, after its RECLAIM_COMPLETE, or not in the records).</item>
/// <item>New opens and locks: NFS4ERR_GRACE for every client during grace (REBT2: also after its own RECLAIM_COMPLETE),
/// and for a client before its RECLAIM_COMPLETE at any time.</item>
/// <item>LOCKT, REMOVE, RENAME, and READ, WRITE and size changes under the anonymous or bypass stateid: NFS4ERR_GRACE
/// during grace, as knfsd (a lock not reclaimed yet would be missing from LOCKT's answer; a removed or renamed name may
/// be one somebody is about to reclaim through; special-stateid I/O may conflict with a deny not reclaimed yet).</item>
/// </list>
/// The server does not remember which files were open (knfsd neither): a reclaimable client is trusted for what it
/// reclaims; NFS4ERR_RECLAIM_BAD and NFS4ERR_RECLAIM_CONFLICT catch what is provably impossible.
/// </summary>
internal static class ReclaimRules
{
    /// <summary>Whether <paramref name="client"/> may reclaim now.</summary>
    public static bool MayReclaim(Nfs4Server server, NfsClient client) =>
        server.Grace.InGrace && client.Reclaimer && !client.ReclaimComplete;

    /// <summary>For a reclaim: OK, or NFS4ERR_NO_GRACE ("no current role in reclaiming", §15.1.9).</summary>
    public static NfsStat4 CheckReclaim(Nfs4Server server, NfsClient client) =>
        MayReclaim(server, client) ? NfsStat4.Ok : NfsStat4.NoGrace;

    /// <summary>For a new (non-reclaim) open or lock: NFS4ERR_GRACE during grace, or before the client's RECLAIM_COMPLETE.</summary>
    public static NfsStat4 CheckNewState(Nfs4Server server, NfsClient client) =>
        server.Grace.InGrace || !client.ReclaimComplete ? NfsStat4.Grace : NfsStat4.Ok;

    /// <summary>For LOCKT, REMOVE, RENAME and special-stateid I/O: NFS4ERR_GRACE during grace.</summary>
    public static NfsStat4 CheckDuringGrace(Nfs4Server server) =>
        server.Grace.InGrace ? NfsStat4.Grace : NfsStat4.Ok;

    /// <summary>
    /// The delegation a reclaimed open comes back with (§18.16.3, §10.2.1): the one CLAIM_PREVIOUS says the client
    /// held (none if it held none); for the PREV delegation claims, the client held one: read, or write when it opens for
    /// write. Granted when the server can grant it now (a back channel, no conflicting open or delegation, policy on);
    /// otherwise OPEN_DELEGATE_NONE, and the client gives up the delegation and flushes through its open (knfsd's
    /// effective answer). Re-granting with the recall flag set is not done.
    /// </summary>
    public static async ValueTask<DelegationDecision> ReclaimDelegationAsync(Nfs4Server server, NfsClient client, FileHandle file, ulong fileId,
        ClaimType claim, DelegationType? held, Share openAccess)
    {
        if (claim is ClaimType.DelegatePrev or ClaimType.DelegPrevFh)
            held = (openAccess & Share.Write) != 0 ? DelegationType.Write : DelegationType.Read;
        if (held is not { } type)
            return DelegationDecision.None(WhyNoDelegation.NotWanted);
        var access = type == DelegationType.Write ? openAccess | Share.Write : Share.Read;
        var decision = await server.Delegations.TryGrantAsync(client, file, fileId, access, want: 0).ConfigureAwait(false);
        if (decision.Granted is { } granted && granted.Type != type)
        {
            _ = server.Delegations.Release(granted); // not the one it held: none rather than another
            return DelegationDecision.None(WhyNoDelegation.Contention);
        }
        return decision;
    }
}
