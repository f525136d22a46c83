using Leasehold.Engine;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

internal sealed record LockTestArgs(uint Type, ulong Offset, ulong Length, byte[] Owner);

/// <summary>LOCKT, RFC 8881 §18.11: would this lock be granted? The owner's own locks never stand in its way.</summary>
internal sealed class LockTOp : INfsOp<LockTestArgs, LockDenied?>
{
    public static readonly LockTOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.LockT;

    public static LockTestArgs Decode(ref XdrReader r)
    {
        uint type = r.ReadUInt32();
        ulong offset = r.ReadUInt64();
        ulong length = r.ReadUInt64();
        r.ReadUInt64(); // clientid
        return new LockTestArgs(type, offset, length, r.ReadOpaque(Wire.MaxOpaque).ToArray());
    }

    public ValueTask<OpResult<LockDenied?>> ExecuteAsync(CompoundContext ctx, LockTestArgs args, CancellationToken cancellationToken)
    {
        if (!ctx.TryGetCurrentFh(out var fh, out var status))
            return Done(status);
        if (!Locking.IsValidType(args.Type))
            return Done(NfsStat4.Inval);
        status = Locking.Range(args.Offset, args.Length, out ulong start, out ulong end);
        if (status != NfsStat4.Ok)
            return Done(status);
        status = State.Recovery.ReclaimRules.CheckDuringGrace(ctx.Server); // locks not reclaimed yet would be missing from the answer
        if (status != NfsStat4.Ok)
            return Done(status);
        var attrs = ctx.Tree.GetAttributes(fh);
        if (!attrs.IsOk)
            return Done(attrs.Status.ToNfs());
        switch (attrs.Value.Type)
        {
            case Export.FileType.Regular:
                break;
            case Export.FileType.Directory:
                return Done(NfsStat4.IsDir);
            case Export.FileType.Symlink:
                return Done(NfsStat4.Symlink); // §18.11.3
            default:
                return Done(NfsStat4.WrongType);
        }
        var client = ctx.Client!;
        var mine = ctx.Server.States.FindLockOwner(client, args.Owner, attrs.Value.FileId);
        var tester = mine?.EngineOwner ?? new Owner(client.ClientId, 0); // no locks yet: an owner nothing matches
        var key = FileKey.From(attrs.Value.FileId);
        var type = Locking.ToEngine(args.Type);
        var conflict = ctx.Server.RangeLocks.Test(key, tester, type, start, end);
        if (conflict is not null)
            conflict = Locking.ExpiringCourtesyHolders(ctx, conflict, () => ctx.Server.RangeLocks.Test(key, tester, type, start, end));
        return conflict is { } c
            ? ValueTask.FromResult(new OpResult<LockDenied?>(NfsStat4.Denied, Locking.Denied(ctx, c)))
            : ValueTask.FromResult(OpResult<LockDenied?>.Ok(null));
    }

    private static ValueTask<OpResult<LockDenied?>> Done(NfsStat4 status) => ValueTask.FromResult<OpResult<LockDenied?>>(status);

    public static void Encode(in OpResult<LockDenied?> result, XdrWriter w)
    {
        if (result.Status == NfsStat4.Denied)
            result.Value?.Write(w);
    }
}
