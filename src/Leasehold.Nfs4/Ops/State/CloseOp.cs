using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>CLOSE, RFC 8881 §18.2: ends an open; the reply carries the invalid special stateid (§18.2.4).</summary>
internal sealed class CloseOp : INfsOp<StateId, StateId>
{
    public static readonly CloseOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.Close;

    public static StateId Decode(ref XdrReader r)
    {
        r.ReadUInt32(); // seqid: unused in NFSv4.1
        return StateId.Read(ref r);
    }

    public ValueTask<OpResult<StateId>> ExecuteAsync(CompoundContext ctx, StateId stateId, CancellationToken cancellationToken)
    {
        if (!ctx.TryGetCurrentFh(out var fh, out var status))
            return ValueTask.FromResult<OpResult<StateId>>(status);
        status = ctx.Server.States.FindOpen(ctx.Resolve(stateId), ctx.Client, out var open);
        if (status != NfsStat4.Ok)
            return ValueTask.FromResult<OpResult<StateId>>(status);
        if (open!.File != fh)
            return ValueTask.FromResult<OpResult<StateId>>(NfsStat4.BadStateId);
        foreach (var lockState in open!.LockStates)
        {
            if (ctx.Server.RangeLocks.Holds(Engine.FileKey.From(open.FileId), lockState.EngineOwner))
                return ValueTask.FromResult<OpResult<StateId>>(NfsStat4.LocksHeld); // §18.2.3: unlock first
        }
        OpenRegistry.Close(ctx.Server, open);
        ctx.CurrentStateId = StateId.Invalid;
        return ValueTask.FromResult(OpResult<StateId>.Ok(StateId.Invalid));
    }

    public static void Encode(in OpResult<StateId> result, XdrWriter w)
    {
        if (result.IsOk)
            result.Value.Write(w);
    }
}
