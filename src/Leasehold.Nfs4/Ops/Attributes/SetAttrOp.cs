using Leasehold.Export;
using Leasehold.Nfs4.Attributes;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

internal sealed record SetAttrArgs(StateId StateId, uint[] Mask, byte[] Values);

/// <summary>
/// SETATTR, RFC 8881 §18.30: the attrsset bitmap is part of the reply whatever the status. In minor version 2 the holder
/// of a delegation with delegated timestamps sets the file's times with time_deleg_access and time_deleg_modify
/// (RFC 9754 §5; see <see cref="VetDelegatedTimes"/>).
/// </summary>
internal sealed class SetAttrOp : INfsOp<SetAttrArgs, uint[]>
{
    public static readonly SetAttrOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.SetAttr;

    public static SetAttrArgs Decode(ref XdrReader r) => new(StateId.Read(ref r), Wire.ReadBitmap(ref r), r.ReadOpaque(int.MaxValue).ToArray());

    public async ValueTask<OpResult<uint[]>> ExecuteAsync(CompoundContext ctx, SetAttrArgs args, CancellationToken cancellationToken)
    {
        if (!ctx.TryGetCurrentFh(out var fh, out var status))
            return status;
        bool delegatedAccess = ctx.MinorVersion >= 2 && Attr.IsSet(args.Mask, Attr.TimeDelegAccess);
        bool delegatedModify = ctx.MinorVersion >= 2 && Attr.IsSet(args.Mask, Attr.TimeDelegModify);
        if ((delegatedAccess && Attr.IsSet(args.Mask, Attr.TimeAccessSet)) || (delegatedModify && Attr.IsSet(args.Mask, Attr.TimeModifySet)))
            return NfsStat4.Inval; // one attribute per time
        status = FattrDecoder.Read(args.Mask, args.Values, ctx.Server.FattrFor(ctx.MinorVersion), creating: false, out var changes, delegatedTimes: true);
        if (status != NfsStat4.Ok)
            return status;
        if (delegatedAccess || delegatedModify)
        {
            status = VetDelegatedTimes(ctx, args.StateId, fh, delegatedAccess, delegatedModify, ref changes);
            if (status != NfsStat4.Ok)
                return status;
            if (changes.IsEmpty)
                return OpResult<uint[]>.Ok(args.Mask); // only delegated times, all ignored: done, as knfsd answers
        }
        // A size change writes the range it truncates or adds (§9.1.2): share reservations and the open's access apply.
        status = IoStateIds.Check(ctx, args.StateId, fh, changes.Size is null ? Share.None : Share.Write, out var io);
        if (status != NfsStat4.Ok)
            return status;
        using var unreserved = io;
        if (changes.IsEmpty)
            return OpResult<uint[]>.Ok([]);
        var done = await ctx.Tree.SetAttributesAsync(ctx.Caller, fh, changes, ctx.ChangeContext, cancellationToken).ConfigureAwait(false);
        if (!done.IsOk)
            return done.Status == FsStatus.IsDirectory && changes.Size is not null ? NfsStat4.IsDir : done.Status.ToNfs();
        return OpResult<uint[]>.Ok(args.Mask);
    }

    /// <summary>
    /// time_deleg_access / time_deleg_modify (RFC 9754 §5), decoded into <paramref name="changes"/>' access and modify
    /// times. Only the holder may set them: the stateid must be its delegation with delegated timestamps on this file
    /// (otherwise NFS4ERR_BAD_STATEID, as knfsd answers; a revoked one DELEG_REVOKED), and time_deleg_modify needs a
    /// write one (NFS4ERR_OPENMODE). A delegation being recalled still may: the client sets its times in the DELEGRETURN
    /// COMPOUND. Each time is vetted against the file's time at grant and the server's now
    /// (<see cref="DelegationAttributes.Vet"/>): not later than at grant, it is ignored (dropped from the change, the
    /// SETATTR succeeds); in the future, it is clamped to now. The change then goes as the holder's own, which never
    /// recalls its delegation.
    /// </summary>
    private static NfsStat4 VetDelegatedTimes(CompoundContext ctx, StateId given, FileHandle fh, bool access, bool modify, ref SetAttributes changes)
    {
        var id = ctx.Resolve(given);
        if (!ctx.Server.States.IsDelegationKey(id))
            return NfsStat4.BadStateId;
        var found = ctx.Server.States.FindDelegation(id, ctx.Client, out var delegation);
        if (found != NfsStat4.Ok)
            return found;
        if (delegation!.File != fh || !delegation.TimestampsDelegated)
            return NfsStat4.BadStateId;
        if (modify && delegation.Type != DelegationType.Write)
            return NfsStat4.OpenMode;
        var now = FsTime.FromDateTimeOffset(ctx.Server.Time.GetUtcNow());
        if (access)
        {
            var t = changes.AccessTime!.Value;
            changes = changes with { AccessTime = DelegationAttributes.Vet(ref t, delegation.AccessAtGrant, now) ? t : null };
        }
        if (modify)
        {
            var t = changes.ModifyTime!.Value;
            changes = changes with { ModifyTime = DelegationAttributes.Vet(ref t, delegation.ModifyAtGrant, now) ? t : null };
        }
        return NfsStat4.Ok;
    }

    public static void Encode(in OpResult<uint[]> result, XdrWriter w) => Wire.WriteBitmap(w, result.Value ?? []);
}
