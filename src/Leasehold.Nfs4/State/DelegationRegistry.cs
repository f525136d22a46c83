using System.Collections.Concurrent;
using Leasehold.Engine;
using Leasehold.Export;
using Leasehold.Export.LocalAccess;
using Leasehold.Nfs4.Callbacks;
using Leasehold.Nfs4.Protocol;
using Microsoft.Extensions.Logging;

namespace Leasehold.Nfs4.State;

/// <summary>why_no_delegation4 (RFC 8881 §18.16.2): why OPEN granted no delegation to a client that stated a want.</summary>
internal enum WhyNoDelegation : uint
{
    NotWanted = 0,
    Contention = 1,
    Resource = 2,
    NotSuppFtype = 3,
    WriteDelegNotSuppFtype = 4,
    NotSuppUpgrade = 5,
    NotSuppDowngrade = 6,
    Cancelled = 7,
    IsDir = 8,
}

/// <summary>What OPEN decided about a delegation: the one granted, or why none was.</summary>
internal readonly record struct DelegationDecision(DelegationState? Granted, WhyNoDelegation Why)
{
    public static DelegationDecision None(WhyNoDelegation why) => new(null, why);
}

/// <summary>
/// The delegations handed out over the wire (RFC 8881 §10.2, §10.4): granting on OPEN through the engine (which
/// decides admission: another owner's write open, a conflicting grant, a pending break or the recall window), recalls
/// as CB_RECALL on the holder's back channel when the engine breaks one, DELEGRETURN, and release when the client goes.
/// Nothing here blocks in an engine notice: a recall is sent from a pool work item.
/// </summary>
internal sealed class DelegationRegistry(Nfs4Server server)
{
    private const uint WantReadDeleg = 0x0100, WantWriteDeleg = 0x0200, WantNoDeleg = 0x0400, WantCancel = 0x0500;

    private readonly ConcurrentDictionary<ulong, DelegationState> _writeDelegations = new();
    private int _count;

    /// <summary>Outstanding delegations (active, being recalled or revoked and not yet freed).</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>
    /// Decides whether <paramref name="client"/>, which has just opened <paramref name="file"/> for
    /// <paramref name="access"/>, gets a delegation (RFC 8881 §10.4, §18.16.3), and which. <paramref name="want"/> is the
    /// OPEN4_SHARE_ACCESS_WANT_* value (0 when none was stated). The access decides the type, as knfsd decides it
    /// (<c>nfs4_set_delegation</c>): an open with write access (WRITE or BOTH) may get a write delegation, which the
    /// engine admits only while no other client has the file open at all; a read-only open may get a read delegation,
    /// admitted while no other client has it open for write. A write open that cannot have a write delegation gets none
    /// (no read delegation instead: knfsd tries only the one type). Wants (§18.16.3) and why_no_delegation4:
    /// <list type="bullet">
    /// <item>NO_DELEG: NOT_WANTED. CANCEL: CANCELLED. Delegations off, a limit reached, no usable back channel, no
    /// guard against local processes (<see cref="KernelLeaseAuthority"/>): RESOURCE. A conflict or a recall on the file
    /// (pending or recent), a local process that has it open or just touched it: CONTENTION.</item>
    /// <item>WRITE_DELEG on a read-only open: NOT_SUPP_UPGRADE, since a read-only open never gets a write delegation
    /// and the reason names exactly what is refused (knfsd hands out a read delegation instead, ignoring the want's
    /// type). READ_DELEG (or ANY) on a write open: a write delegation, which allows all a read delegation allows (as
    /// knfsd).</item>
    /// <item>The client holds a delegation on the file already (one per client and file, knfsd
    /// <c>nfs4_delegation_exists</c>): a read one and the open writes or wants WRITE_DELEG: NOT_SUPP_UPGRADE (there
    /// is no atomic upgrade); a write one and the open wants READ_DELEG: NOT_SUPP_DOWNGRADE; otherwise CONTENTION.</item>
    /// </list>
    /// A write delegation records the file's change attribute at grant (<see cref="DelegationState.ChangeAtGrant"/>) for
    /// CB_GETATTR and is found by <see cref="FindWriteDelegation"/>. With <paramref name="timestamps"/> (RFC 9754 §5,
    /// minor version 2) the delegation is a *_ATTRS_DELEG one, whatever its type, and records the file's access and
    /// modify times at grant (as knfsd does since "nfsd: track original timestamps in nfs4_delegation").
    /// </summary>
    public async ValueTask<DelegationDecision> TryGrantAsync(NfsClient client, FileHandle file, ulong fileId, Share access, uint want, bool timestamps = false)
    {
        if (want == WantNoDeleg)
            return DelegationDecision.None(WhyNoDelegation.NotWanted);
        if (want == WantCancel)
            return DelegationDecision.None(WhyNoDelegation.Cancelled);
        if (server.Options.Delegations == DelegationPolicy.Off)
            return DelegationDecision.None(WhyNoDelegation.Resource);
        bool write = (access & Share.Write) != 0;
        if (!write && want == WantWriteDeleg)
            return DelegationDecision.None(WhyNoDelegation.NotSuppUpgrade);
        if (write && server.Export.ReadOnly)
            return DelegationDecision.None(WhyNoDelegation.Resource); // OPEN answered ROFS before asking; kept as a guard
        lock (client.Sync)
        {
            if (client.DelegationsByFile.TryGetValue(fileId, out var held))
                return DelegationDecision.None(WhyNotAnother(held.Type, write, want));
        }
        if (!client.HasUsableBackChannel())
            return DelegationDecision.None(WhyNoDelegation.Resource);
        if (Count >= server.Options.MaxDelegations || client.DelegationCount >= server.Options.MaxDelegationsPerClient)
            return DelegationDecision.None(WhyNoDelegation.Resource);

        var type = write ? DelegationType.Write : DelegationType.Read;
        var delegation = new DelegationState(server.States.NewKey(), client, file, fileId, type, this) { TimestampsDelegated = timestamps };
        var result = await server.Engine.GrantAsync(new GrantRequest(FileKey.From(fileId), DelegationOwner(client), GrantKind.Delegation,
            write ? GrantMode.Write : GrantMode.Read, delegation)).ConfigureAwait(false);
        if (!result.IsGranted)
        {
            // The authority refuses a file a local process has open (its kernel lease could not be taken: CONTENTION),
            // and for want of a guard or a descriptor (RESOURCE).
            return DelegationDecision.None(result.Status != GrantStatus.RefusedByAuthority || delegation.GuardRefusal == GuardStatus.Busy
                ? WhyNoDelegation.Contention : WhyNoDelegation.Resource);
        }
        if (result.Grant!.Holder != delegation)
            return DelegationDecision.None(WhyNoDelegation.Contention); // a racing OPEN of the same client got it first
        if (delegation.LocalAccessSeen)
        {
            // A local process broke the new kernel lease before the engine recorded the grant, so the engine's break
            // found nothing to recall: hand it back (the guard goes with it and the local process proceeds).
            Volatile.Write(ref delegation.Status, (int)DelegationStatus.Returned); // a recall that raced in is not sent
            server.Engine.Release(result.Grant);
            return DelegationDecision.None(WhyNoDelegation.Contention);
        }
        delegation.Grant = result.Grant;
        if (write || timestamps)
        {
            // Read after the grant: from here on only the holder changes the file, so this is what it starts from.
            var attrs = server.Tree.GetAttributes(file);
            if (!attrs.IsOk)
            {
                server.Engine.Release(result.Grant);
                return DelegationDecision.None(WhyNoDelegation.Resource);
            }
            delegation.ChangeAtGrant = attrs.Value.Change;
            delegation.AccessAtGrant = attrs.Value.AccessTime;
            delegation.ModifyAtGrant = attrs.Value.ModifyTime;
        }
        lock (client.Sync)
        {
            if (client.Expired || !client.DelegationsByFile.TryAdd(fileId, delegation))
            {
                server.Engine.Release(result.Grant);
                return DelegationDecision.None(client.Expired ? WhyNoDelegation.Resource : WhyNoDelegation.Contention);
            }
        }
        Interlocked.Increment(ref _count);
        server.States.Add(delegation);
        if (write)
            _writeDelegations[fileId] = delegation; // the engine admits one write delegation per file
        // A client destroyed while this ran has had its delegations released already: this one must go too, as must one
        // whose back channel went down meanwhile (it could not be recalled).
        if (client.Expired || !client.HasUsableBackChannel())
        {
            Release(delegation);
            return DelegationDecision.None(WhyNoDelegation.Resource);
        }
        server.Metrics.DelegationGranted(delegation);
        return new DelegationDecision(delegation, default);
    }

    /// <summary>Why a client that holds a delegation of <paramref name="held"/> type on the file gets no other (§18.16.2).</summary>
    private static WhyNoDelegation WhyNotAnother(DelegationType held, bool write, uint want) => held switch
    {
        DelegationType.Read when write || want == WantWriteDeleg => WhyNoDelegation.NotSuppUpgrade,
        DelegationType.Write when want == WantReadDeleg => WhyNoDelegation.NotSuppDowngrade,
        _ => WhyNoDelegation.Contention, // knfsd: nfs4_delegation_exists → -EAGAIN
    };

    /// <summary>
    /// The write delegation on a file, whoever holds it and whatever its status (active, being recalled, revoked and
    /// not yet freed), or null: one dictionary lookup, for GETATTR's CB_GETATTR check (§10.4.3).
    /// </summary>
    public DelegationState? FindWriteDelegation(ulong fileId) => _writeDelegations.TryGetValue(fileId, out var d) ? d : null;

    /// <summary>The engine identity of a client's delegations: (client id, 0), which no open or lock owner uses.</summary>
    public static Owner DelegationOwner(NfsClient client) => new(client.ClientId, 0);

    /// <summary>
    /// DELEGRETURN (§18.6): gives the delegation back. False when it was returned already (a second DELEGRETURN).
    /// </summary>
    public bool Return(DelegationState delegation)
    {
        while (true)
        {
            int status = Volatile.Read(ref delegation.Status);
            if (status is (int)DelegationStatus.Returned or (int)DelegationStatus.Revoked)
                return false;
            if (Interlocked.CompareExchange(ref delegation.Status, (int)DelegationStatus.Returned, status) == status)
                break;
        }
        Forget(delegation);
        server.Metrics.DelegationReturned(delegation);
        return true;
    }

    /// <summary>
    /// Frees a delegation whatever its state (FREE_STATEID of a revoked one, the client gone, the administrator). A live
    /// one (active or being recalled) freed for a <paramref name="reason"/> counts as revoked for it. False if freed already.
    /// </summary>
    public bool Release(DelegationState delegation, RevokeReason? reason = null)
    {
        int was = Interlocked.Exchange(ref delegation.Status, (int)DelegationStatus.Returned);
        if (was == (int)DelegationStatus.Returned)
            return false;
        if (was == (int)DelegationStatus.Revoked)
            Interlocked.Decrement(ref delegation.Client.RevokedDelegations);
        else if (reason is { } why)
            server.Metrics.DelegationRevoked(delegation, why);
        Forget(delegation);
        return true;
    }

    /// <summary>Releases every delegation of a client that is gone (expired or destroyed): its delegations go with it.</summary>
    public void ReleaseAll(NfsClient client)
    {
        List<DelegationState> held;
        lock (client.Sync)
            held = [.. client.DelegationsByFile.Values];
        foreach (var delegation in held)
            Release(delegation, RevokeReason.ClientGone);
    }

    private void Forget(DelegationState delegation)
    {
        lock (delegation.Client.Sync)
        {
            if (delegation.Client.DelegationsByFile.TryGetValue(delegation.FileId, out var held) && held == delegation)
                delegation.Client.DelegationsByFile.Remove(delegation.FileId);
        }
        server.States.Remove(delegation);
        if (delegation.Type == DelegationType.Write)
            _writeDelegations.TryRemove(new KeyValuePair<ulong, DelegationState>(delegation.FileId, delegation));
        Interlocked.Decrement(ref _count);
        if (delegation.Grant is { } grant)
            server.Engine.Release(grant);
    }

    /// <summary>
    /// The engine's break notice: marks the delegation Recalling and hands it to the <see cref="RecallSender"/>, which
    /// sends CB_RECALL from a pool work item (and again, by its rules, until the client has it), so the notice returns
    /// at once. Whatever the callback's fate, the engine's deadline revokes a delegation not returned.
    /// </summary>
    public void Recall(DelegationState delegation)
    {
        if (Interlocked.CompareExchange(ref delegation.Status, (int)DelegationStatus.Recalling, (int)DelegationStatus.Active) != (int)DelegationStatus.Active)
            return;
        if (delegation.Client.Courtesy)
        {
            // A silent client would not answer CB_RECALL: it is expired instead, with its state (§8.4.3; knfsd's
            // nfsd_break_deleg_cb), off the engine's notice. If it came back meanwhile, it is recalled as usual.
            ThreadPool.UnsafeQueueUserWorkItem(static d =>
            {
                if (!d.Server.ExpireCourtesyClient(d.Delegation.Client.ClientId, "its delegation is being recalled (another client, a local process or the administrator wants the file)"))
                    d.Server.Recalls.Start(d.Delegation);
            }, (Server: server, Delegation: delegation), preferLocal: false);
            return;
        }
        server.Recalls.Start(delegation);
    }

    /// <summary>The engine revoked the delegation (not returned within its deadline): it stays, Revoked, until freed.</summary>
    public void Revoked(DelegationState delegation)
    {
        while (true)
        {
            int status = Volatile.Read(ref delegation.Status);
            if (status is (int)DelegationStatus.Returned or (int)DelegationStatus.Revoked)
                return;
            if (Interlocked.CompareExchange(ref delegation.Status, (int)DelegationStatus.Revoked, status) == status)
                break;
        }
        Interlocked.Increment(ref delegation.Client.RevokedDelegations);
        server.Metrics.DelegationRevoked(delegation, RevokeReason.Deadline);
        Log.DelegationRevoked(server.Logger, delegation.Id.ToString(), delegation.FileId, delegation.Client.ClientId);
    }
}
