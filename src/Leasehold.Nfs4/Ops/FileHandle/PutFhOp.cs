using Leasehold.Export;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>
/// PUTFH, RFC 8881 §18.19: a handle the export did not make is BADHANDLE; one whose file is gone is STALE. A file
/// removed while open is not gone: its open pins it in the export (<see cref="IExportedTree.Pin"/>) until CLOSE.
/// </summary>
internal sealed class PutFhOp : INfsOp<byte[], Unit>
{
    public static readonly PutFhOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.PutFh;

    public static byte[] Decode(ref XdrReader r) => r.ReadOpaque(FileHandle.MaxSize).ToArray();

    public ValueTask<OpResult<Unit>> ExecuteAsync(CompoundContext ctx, byte[] bytes, CancellationToken cancellationToken)
    {
        if (FileHandle.FromWire(bytes) is not { } handle)
            return ValueTask.FromResult<OpResult<Unit>>(NfsStat4.BadHandle);
        var attributes = ctx.Tree.GetAttributes(handle);
        if (!attributes.IsOk)
            return ValueTask.FromResult<OpResult<Unit>>(attributes.Status.ToNfs());
        ctx.CurrentFh = handle;
        ctx.CurrentStateId = StateId.Invalid;
        return ValueTask.FromResult(OpResult<Unit>.Ok(default));
    }

    public static void Encode(in OpResult<Unit> result, XdrWriter w)
    {
    }
}
