using Leasehold.Export;
using Leasehold.Nfs4.Attributes;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>
/// TEST_STATEID, RFC 8881 §18.48: one status per stateid, for opens, locks and delegations (a revoked delegation:
/// DELEG_REVOKED).
/// </summary>
internal sealed class TestStateIdOp : INfsOp<StateId[], NfsStat4[]>
{
    public static readonly TestStateIdOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.TestStateId;

    public static StateId[] Decode(ref XdrReader r)
    {
        int count = r.ReadArrayCount(1024, minElementSize: 16);
        var ids = new StateId[count];
        for (int i = 0; i < count; i++)
            ids[i] = StateId.Read(ref r);
        return ids;
    }

    public ValueTask<OpResult<NfsStat4[]>> ExecuteAsync(CompoundContext ctx, StateId[] ids, CancellationToken cancellationToken)
    {
        var results = new NfsStat4[ids.Length];
        for (int i = 0; i < ids.Length; i++)
            results[i] = ids[i].IsSpecial ? NfsStat4.BadStateId
                : ctx.Server.States.IsLockKey(ids[i]) ? ctx.Server.States.FindLock(ids[i], ctx.Client, out _)
                : ctx.Server.States.IsDelegationKey(ids[i]) ? ctx.Server.States.FindDelegation(ids[i], ctx.Client, out _)
                : ctx.Server.States.FindOpen(ids[i], ctx.Client, out _);
        return ValueTask.FromResult(OpResult<NfsStat4[]>.Ok(results));
    }

    public static void Encode(in OpResult<NfsStat4[]> result, XdrWriter w)
    {
        if (result.Value is not { } v)
            return;
        w.WriteUInt32((uint)v.Length);
        foreach (var s in v)
            w.WriteUInt32((uint)s);
    }
}
