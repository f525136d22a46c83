using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

internal sealed record OpenDowngradeArgs(StateId StateId, uint Access, uint Deny);

/// <summary>OPEN_DOWNGRADE, RFC 8881 §18.18: to access and deny modes the open already had.</summary>
internal sealed class OpenDowngradeOp : INfsOp<OpenDowngradeArgs, StateId>
{
    public static readonly OpenDowngradeOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.OpenDowngrade;

    public static OpenDowngradeArgs Decode(ref XdrReader r)
    {
        var id = StateId.Read(ref r);
        r.ReadUInt32(); // seqid
        return new OpenDowngradeArgs(id, r.ReadUInt32(), r.ReadUInt32());
    }

    public ValueTask<OpResult<StateId>> ExecuteAsync(CompoundContext ctx, OpenDowngradeArgs args, CancellationToken cancellationToken)
    {
        if (!ctx.TryGetCurrentFh(out var fh, out var status))
            return ValueTask.FromResult<OpResult<StateId>>(status);
        status = ctx.Server.States.FindOpen(ctx.Resolve(args.StateId), ctx.Client, out var open);
        if (status != NfsStat4.Ok)
            return ValueTask.FromResult<OpResult<StateId>>(status);
        if (open!.File != fh)
            return ValueTask.FromResult<OpResult<StateId>>(NfsStat4.BadStateId); // another file's open (as CLOSE)
        var access = (Share)(args.Access & 0xFF);
        var deny = (Share)args.Deny;
        var shares = ctx.Server.States.SharesFor(open.FileId);
        Share dropped;
        StateId id;
        lock (shares.Sync)
        {
            // §18.18.3: the new modes must be the union of some of the OPENs in effect (OPEN BOTH cannot become READ).
            if (access == Share.None || (uint)access > 3 || (uint)deny > 3 || (access & ~open.Access) != 0
                || (deny & ~open.Deny) != 0 || !open.IsUnionOfOpens(access, deny))
                return ValueTask.FromResult<OpResult<StateId>>(NfsStat4.Inval);
            dropped = open.Access & ~access;
            open.Access = access;
            open.Deny = deny;
            open.KeepOpensWithin(access, deny);
            open.SeqId++;
            id = open.Id;
        }
        OpenRegistry.ReleaseEngineAccess(ctx.Server, open, dropped);
        ctx.CurrentStateId = id;
        return ValueTask.FromResult(OpResult<StateId>.Ok(id));
    }

    public static void Encode(in OpResult<StateId> result, XdrWriter w)
    {
        if (result.IsOk)
            result.Value.Write(w);
    }
}
