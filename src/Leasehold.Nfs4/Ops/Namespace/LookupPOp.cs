using Leasehold.Export;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>LOOKUPP, RFC 8881 §18.14: the parent directory; NOENT at the root of the export.</summary>
internal sealed class LookupPOp : INfsOp<Unit, Unit>
{
    public static readonly LookupPOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.LookupP;

    public static Unit Decode(ref XdrReader r) => default;

    public ValueTask<OpResult<Unit>> ExecuteAsync(CompoundContext ctx, Unit args, CancellationToken cancellationToken)
    {
        if (!ctx.TryGetCurrentFh(out var dir, out var status))
            return ValueTask.FromResult<OpResult<Unit>>(status);
        var attrs = ctx.Tree.GetAttributes(dir);
        if (!attrs.IsOk)
            return ValueTask.FromResult<OpResult<Unit>>(attrs.Status.ToNfs());
        if (attrs.Value.Type == FileType.Symlink)
            return ValueTask.FromResult<OpResult<Unit>>(NfsStat4.Symlink);
        if (attrs.Value.Type != FileType.Directory)
            return ValueTask.FromResult<OpResult<Unit>>(NfsStat4.NotDir);
        var parent = ctx.Tree.LookupParent(ctx.Caller, dir);
        if (!parent.IsOk)
            return ValueTask.FromResult<OpResult<Unit>>(parent.Status.ToNfs());
        ctx.CurrentFh = parent.Value;
        ctx.CurrentStateId = StateId.Invalid;
        return ValueTask.FromResult(OpResult<Unit>.Ok(default));
    }

    public static void Encode(in OpResult<Unit> result, XdrWriter w)
    {
    }
}
