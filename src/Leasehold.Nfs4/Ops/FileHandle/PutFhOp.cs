using Leasehold.Export;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>
/// PUTFH, RFC 8881 §18.19: a handle the export did not make is BADHANDLE; one whose file is gone is STALE. A file
/// removed while open is not gone: its open pins it in the export (<see cref="IExportedTree.Pin"/>) until CLOSE.
/// </summary>
internal sealed class PutFhOp : INfsOp<ReadOnlyMemory<byte>, Unit>
{
    public static readonly PutFhOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.PutFh;

    /// <summary>The handle's bytes, a slice of the request (alive until the COMPOUND is answered): the export copies them only for a handle it has not cached.</summary>
    public static ReadOnlyMemory<byte> Decode(ref XdrReader r) => r.ReadOpaqueMemory(FileHandle.MaxSize);

    public ValueTask<OpResult<Unit>> ExecuteAsync(CompoundContext ctx, ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        var accepted = ctx.Tree.Accept(bytes.Span);
        if (!accepted.IsOk)
            return ValueTask.FromResult<OpResult<Unit>>(accepted.Status.ToNfs());
        ctx.CurrentFh = accepted.Value;
        ctx.CurrentStateId = StateId.Invalid;
        return ValueTask.FromResult(OpResult<Unit>.Ok(default));
    }

    public static void Encode(in OpResult<Unit> result, XdrWriter w)
    {
    }
}
