using Leasehold.Export;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>PUTPUBFH, RFC 8881 §18.20: our public filehandle is the root.</summary>
internal sealed class PutPubFhOp : INfsOp<Unit, Unit>
{
    public static readonly PutPubFhOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.PutPubFh;

    public static Unit Decode(ref XdrReader r) => default;

    public ValueTask<OpResult<Unit>> ExecuteAsync(CompoundContext ctx, Unit args, CancellationToken cancellationToken) =>
        PutRootFhOp.Instance.ExecuteAsync(ctx, args, cancellationToken);

    public static void Encode(in OpResult<Unit> result, XdrWriter w)
    {
    }
}
