using Leasehold.Export;
using Leasehold.Nfs4.Attributes;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>Shared steps of the operations that change a directory: the current filehandle must be a directory.</summary>
internal static class Directories
{
    /// <summary>The handle must name a directory: Ok with its attributes; else <paramref name="missing"/> (no handle), the export's error, SYMLINK or NOTDIR (attributes then default).</summary>
    public static NfsStat4 RequireDirectory(CompoundContext ctx, FileHandle? handle, NfsStat4 missing, out FileHandle dir, out FileAttributes attrs)
    {
        attrs = default;
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

    /// <summary>Opens this server's change scope on the directory <paramref name="handle"/> (null when there is no
    /// handle); open it before reading the directory's <c>before</c> value and dispose it after <see cref="Change"/>.</summary>
    public static DirectoryChanges.Scope? BeginChange(CompoundContext ctx, FileHandle? handle) =>
        handle is { } h ? ctx.Server.DirectoryChanges.Begin(h) : null;

    /// <summary>change_info4 of a directory this operation changed: <c>before</c> as read inside
    /// <paramref name="scope"/>, <c>after</c> read now; atomic when no other change by this server overlapped the scope
    /// (RFC 8881 §3.3.6), so the client can keep its cache of the directory.</summary>
    public static ChangeInfo Change(CompoundContext ctx, FileAttributes before, FileHandle dir, DirectoryChanges.Scope? scope)
    {
        var after = ctx.Tree.GetAttributes(dir);
        bool atomic = scope?.End() == true && after.IsOk;
        return new ChangeInfo(atomic, before.Change, after.IsOk ? after.Value.Change : before.Change);
    }
}
