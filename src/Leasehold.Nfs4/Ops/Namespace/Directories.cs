using Leasehold.Export;
using Leasehold.Nfs4.Attributes;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>Shared steps of the operations that change a directory: the current filehandle must be a directory.</summary>
internal static class Directories
{
    public static NfsStat4 RequireDirectory(CompoundContext ctx, FileHandle? handle, NfsStat4 missing, out FileHandle dir, out FileAttributes? attrs)
    {
        attrs = null;
        dir = default;
        if (handle is not { } h)
            return missing;
        dir = h;
        var a = ctx.Tree.GetAttributes(h);
        if (!a.IsOk)
            return a.Status.ToNfs();
        attrs = a.Value;
        return a.Value.Type switch
        {
            FileType.Directory => NfsStat4.Ok,
            FileType.Symlink => NfsStat4.Symlink,
            _ => NfsStat4.NotDir,
        };
    }

    public static ChangeInfo Change(CompoundContext ctx, FileAttributes before, FileHandle dir)
    {
        var after = ctx.Tree.GetAttributes(dir);
        return new ChangeInfo(false, before.Change, after.IsOk ? after.Value.Change : before.Change);
    }
}
