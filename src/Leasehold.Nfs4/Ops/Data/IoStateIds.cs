using System.Buffers;
using Leasehold.Engine;
using Leasehold.Export;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>The stateid checks READ, WRITE and SETATTR share (RFC 8881 §8.2.2-§8.2.4, §9.1.2).</summary>
internal static class IoStateIds
{
    /// <summary>
    /// Checks the stateid of a READ (<paramref name="needed"/> Read), a WRITE or size-changing SETATTR (Write), or another
    /// SETATTR (None: the stateid is only validated). Share reservations are mandatory (§9.1.2):
    /// <list type="bullet">
    /// <item>The anonymous and READ-bypass stateids (also as the current stateid) are NFS4ERR_GRACE during the grace
    /// period (they may conflict with a share reservation not reclaimed yet), and refused with NFS4ERR_LOCKED when
    /// any open, the caller's own included, denies the access (a courtesy client's deny is expired with it first). A
    /// READ with one recalls another client's write
    /// delegation first (NFS4ERR_DELAY meanwhile). The bypass stateid may bypass byte-range locks only,
    /// and ours are advisory: I/O never checks them.</item>
    /// <item>A delegation stateid of this client on this file: a read delegation reads, a write delegation also writes;
    /// writing through a read delegation is NFS4ERR_OPENMODE.</item>
    /// <item>An open or lock stateid of this client on this file: writing needs the open's write access
    /// (NFS4ERR_OPENMODE). Reading through a write-only open is allowed, as knfsd allows it, unless another open
    /// denies reads (NFS4ERR_LOCKED).</item>
    /// </list>
    /// I/O that no open's access covers is registered in <paramref name="io"/> (dispose it when the I/O is done), so an
    /// OPEN that would deny it answers NFS4ERR_DELAY meanwhile instead of racing it.
    /// </summary>
    public static NfsStat4 Check(CompoundContext ctx, StateId given, FileHandle fh, Share needed, out UnreservedIo io)
    {
        io = default;
        var id = ctx.Resolve(given);
        if (id.IsAnonymous || id.IsBypass)
        {
            if (needed == Share.None)
                return NfsStat4.Ok;
            if (ctx.Server.Grace.InGrace)
                return NfsStat4.Grace; // §8.4.2.1: it may conflict with a deny or a delegation not reclaimed yet
            var attrs = ctx.Tree.GetAttributes(fh);
            if (!attrs.IsOk)
                return attrs.Status.ToNfs();
            if (needed == Share.Read && !RecallWriteDelegations(ctx, attrs.Value.FileId))
                return NfsStat4.Delay;
            if (ctx.Server.States.BeginUnreservedIo(attrs.Value.FileId, needed, except: null, out io))
                return NfsStat4.Ok;
            // Refused only by courtesy clients' deny reservations: they go (§8.4.3), and the I/O is admitted again.
            bool expired = false;
            foreach (var holder in ctx.Server.States.CourtesyDenying(attrs.Value.FileId, needed) ?? [])
                expired |= ctx.Server.ExpireCourtesyClient(holder.ClientId, "another client's I/O conflicts with its share reservation");
            return expired && ctx.Server.States.BeginUnreservedIo(attrs.Value.FileId, needed, except: null, out io) ? NfsStat4.Ok : NfsStat4.Locked;
        }
        if (ctx.Server.States.IsDelegationKey(id))
        {
            // A delegation stateid (RFC 8881 §10.2, §8.2.4): the Linux client reads with it while it holds a read
            // delegation. A read delegation covers reading only; writing through it is NFS4ERR_OPENMODE. Revoked is
            // DELEG_REVOKED.
            var found = ctx.Server.States.FindDelegation(id, ctx.Client, out var delegation);
            if (found != NfsStat4.Ok)
                return found;
            if (delegation!.File != fh)
                return NfsStat4.BadStateId;
            if (needed == Share.Write && delegation.Type != DelegationType.Write)
                return NfsStat4.OpenMode;
            return NfsStat4.Ok;
        }
        OpenState? open;
        NfsStat4 status;
        if (ctx.Server.States.IsLockKey(id))
        {
            status = ctx.Server.States.FindLock(id, ctx.Client, out var lockState);
            open = lockState?.Open;
        }
        else
        {
            status = ctx.Server.States.FindOpen(id, ctx.Client, out open);
        }
        if (status != NfsStat4.Ok)
            return status;
        if (open!.File != fh)
            return NfsStat4.BadStateId;
        if (needed == Share.Write && (open.Access & Share.Write) == 0)
            return NfsStat4.OpenMode;
        if (needed == Share.Read && (open.Access & Share.Read) == 0)
            return ctx.Server.States.BeginUnreservedIo(open.FileId, Share.Read, except: open, out io) ? NfsStat4.Ok : NfsStat4.Locked;
        return NfsStat4.Ok;
    }

    /// <summary>
    /// A READ with a special stateid opened nothing, so no OPEN has recalled another client's write delegation, whose
    /// holder may have newer data (§10.4): recall it now, as an OPEN for read would, without waiting (knfsd's
    /// <c>nfsd_open</c> breaks the lease the same way). False while a recall is pending (NFS4ERR_DELAY). The caller's
    /// own delegations stay (breaker = its client). WRITE and SETATTR need no such step: the tree's change gate
    /// recalls for them (<see cref="EngineChangeGate"/>). A file with no grant costs one dictionary lookup.
    /// </summary>
    private static bool RecallWriteDelegations(CompoundContext ctx, ulong fileId)
    {
        var change = ctx.ChangeContext;
        var broke = ctx.Server.Engine.BreakAsync(FileKey.From(fileId), FileOperation.OpenRead, new Owner(change.BreakerGroup, change.BreakerId), BreakMode.NonBlocking);
        // NonBlocking never parks: the answer is there at once.
        return broke.IsCompletedSuccessfully && broke.Result.CanProceed;
    }

    /// <summary>
    /// The status for READ or WRITE refused by the tree: a directory is ISDIR, a symlink SYMLINK (§18.22.3), any other
    /// file that is not a regular file WRONG_TYPE. Looked up only on this failure path.
    /// </summary>
    public static NfsStat4 NotAFile(CompoundContext ctx, FileHandle fh, FsStatus status)
    {
        if (status == FsStatus.IsDirectory)
            return NfsStat4.IsDir;
        if (status == FsStatus.WrongType && ctx.Tree.GetAttributes(fh) is { IsOk: true } a && a.Value.Type == FileType.Symlink)
            return NfsStat4.Symlink;
        return status.ToNfs();
    }
}
