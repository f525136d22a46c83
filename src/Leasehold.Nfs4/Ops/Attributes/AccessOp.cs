using Leasehold.Export;
using Leasehold.Nfs4.Attributes;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>ACCESS, RFC 8881 §18.1: which of the asked rights the caller has, from the mode bits.</summary>
internal sealed class AccessOp : INfsOp<uint, (uint Supported, uint Access)>
{
    public static readonly AccessOp Instance = new();

    private const uint AllBits = 0x3F;

    public static NfsOpcode Opcode => NfsOpcode.Access;

    public static uint Decode(ref XdrReader r) => r.ReadUInt32();

    public ValueTask<OpResult<(uint Supported, uint Access)>> ExecuteAsync(CompoundContext ctx, uint asked, CancellationToken cancellationToken)
    {
        if (!ctx.TryGetCurrentFh(out var fh, out var status))
            return ValueTask.FromResult<OpResult<(uint, uint)>>(status);
        if ((asked & ~AllBits) != 0)
            return ValueTask.FromResult<OpResult<(uint, uint)>>(NfsStat4.Inval);
        var granted = ctx.Tree.CheckAccess(ctx.Caller, fh, (AccessMask)asked);
        if (!granted.IsOk)
            return ValueTask.FromResult<OpResult<(uint, uint)>>(granted.Status.ToNfs());
        return ValueTask.FromResult(OpResult<(uint, uint)>.Ok((asked, (uint)granted.Value & asked)));
    }

    public static void Encode(in OpResult<(uint Supported, uint Access)> result, XdrWriter w)
    {
        if (!result.IsOk)
            return;
        w.WriteUInt32(result.Value.Supported);
        w.WriteUInt32(result.Value.Access);
    }
}
