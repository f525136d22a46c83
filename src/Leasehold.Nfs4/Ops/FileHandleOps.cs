using Leasehold.Export;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>PUTROOTFH, RFC 8881 §18.21.</summary>
internal sealed class PutRootFhOp : INfsOp<Unit, Unit>
{
    public static readonly PutRootFhOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.PutRootFh;

    public static Unit Decode(ref XdrReader r) => default;

    public ValueTask<OpResult<Unit>> ExecuteAsync(CompoundContext ctx, Unit args, CancellationToken cancellationToken)
    {
        ctx.CurrentFh = ctx.Tree.RootHandle;
        ctx.CurrentStateId = StateId.Invalid;
        return ValueTask.FromResult(OpResult<Unit>.Ok(default));
    }

    public static void Encode(in OpResult<Unit> result, XdrWriter w)
    {
    }
}

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

/// <summary>SAVEFH, RFC 8881 §18.27.</summary>
internal sealed class SaveFhOp : INfsOp<Unit, Unit>
{
    public static readonly SaveFhOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.SaveFh;

    public static Unit Decode(ref XdrReader r) => default;

    public ValueTask<OpResult<Unit>> ExecuteAsync(CompoundContext ctx, Unit args, CancellationToken cancellationToken)
    {
        if (!ctx.TryGetCurrentFh(out var fh, out var status))
            return ValueTask.FromResult<OpResult<Unit>>(status);
        ctx.SavedFh = fh;
        ctx.SavedStateId = ctx.CurrentStateId;
        return ValueTask.FromResult(OpResult<Unit>.Ok(default));
    }

    public static void Encode(in OpResult<Unit> result, XdrWriter w)
    {
    }
}

/// <summary>RESTOREFH, RFC 8881 §18.27: NFS4ERR_RESTOREFH when nothing was saved.</summary>
internal sealed class RestoreFhOp : INfsOp<Unit, Unit>
{
    public static readonly RestoreFhOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.RestoreFh;

    public static Unit Decode(ref XdrReader r) => default;

    public ValueTask<OpResult<Unit>> ExecuteAsync(CompoundContext ctx, Unit args, CancellationToken cancellationToken)
    {
        if (ctx.SavedFh is not { } saved)
            return ValueTask.FromResult<OpResult<Unit>>(NfsStat4.RestoreFh);
        ctx.CurrentFh = saved;
        ctx.CurrentStateId = ctx.SavedStateId;
        return ValueTask.FromResult(OpResult<Unit>.Ok(default));
    }

    public static void Encode(in OpResult<Unit> result, XdrWriter w)
    {
    }
}
