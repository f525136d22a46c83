using Leasehold.Export;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>GETFH, RFC 8881 §18.8.</summary>
internal sealed class GetFhOp : INfsOp<Unit, FileHandle>
{
    public static readonly GetFhOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.GetFh;

    public static Unit Decode(ref XdrReader r) => default;

    public ValueTask<OpResult<FileHandle>> ExecuteAsync(CompoundContext ctx, Unit args, CancellationToken cancellationToken) =>
        ValueTask.FromResult(ctx.TryGetCurrentFh(out var fh, out var status) ? OpResult<FileHandle>.Ok(fh) : (OpResult<FileHandle>)status);

    public static void Encode(in OpResult<FileHandle> result, XdrWriter w)
    {
        if (result.IsOk)
            w.WriteOpaque(result.Value.Span);
    }
}
