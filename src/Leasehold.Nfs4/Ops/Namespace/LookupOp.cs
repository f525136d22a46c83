using Leasehold.Export;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>LOOKUP, RFC 8881 §18.15: never follows a symlink (the client resolves it), never leaves the export.</summary>
internal sealed class LookupOp : INfsOp<byte[], Unit>
{
    public static readonly LookupOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.Lookup;

    public static byte[] Decode(ref XdrReader r) => Names.ReadComponent(ref r);

    public ValueTask<OpResult<Unit>> ExecuteAsync(CompoundContext ctx, byte[] raw, CancellationToken cancellationToken)
    {
        if (!ctx.TryGetCurrentFh(out var dir, out var status))
            return Done(status);
        var attrs = ctx.Tree.GetAttributes(dir);
        if (!attrs.IsOk)
            return Done(attrs.Status.ToNfs());
        if (attrs.Value.Type == FileType.Symlink)
            return Done(NfsStat4.Symlink);
        if (attrs.Value.Type != FileType.Directory)
            return Done(NfsStat4.NotDir);
        status = Names.Validate(raw, out var name);
        if (status != NfsStat4.Ok)
            return Done(status);
        var found = ctx.Tree.Lookup(ctx.Caller, dir, name);
        if (!found.IsOk)
            return Done(found.Status.ToNfs());
        ctx.CurrentFh = found.Value;
        ctx.CurrentStateId = StateId.Invalid;
        return Done(NfsStat4.Ok);
    }

    private static ValueTask<OpResult<Unit>> Done(NfsStat4 status) =>
        ValueTask.FromResult(status == NfsStat4.Ok ? OpResult<Unit>.Ok(default) : (OpResult<Unit>)status);

    public static void Encode(in OpResult<Unit> result, XdrWriter w)
    {
    }
}
