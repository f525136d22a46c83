using Leasehold.Export;
using Leasehold.Nfs4.Protocol;

namespace Leasehold.Nfs4.Compound;

/// <summary>The one place a filesystem status becomes an NFS status.</summary>
internal static class StatusMapping
{
    public static NfsStat4 ToNfs(this FsStatus status) => status switch
    {
        FsStatus.Ok => NfsStat4.Ok,
        FsStatus.NotFound => NfsStat4.NoEnt,
        FsStatus.Exists => NfsStat4.Exist,
        FsStatus.NotDirectory => NfsStat4.NotDir,
        FsStatus.IsDirectory => NfsStat4.IsDir,
        FsStatus.NotEmpty => NfsStat4.NotEmpty,
        FsStatus.AccessDenied => NfsStat4.Access,
        FsStatus.NotPermitted => NfsStat4.Perm,
        FsStatus.Stale => NfsStat4.Stale,
        FsStatus.BadHandle => NfsStat4.BadHandle,
        FsStatus.NameTooLong => NfsStat4.NameTooLong,
        FsStatus.InvalidName => NfsStat4.BadName,
        FsStatus.Invalid => NfsStat4.Inval,
        FsStatus.NoSpace => NfsStat4.NoSpc,
        FsStatus.ReadOnly => NfsStat4.Rofs,
        FsStatus.CrossDevice => NfsStat4.Xdev,
        FsStatus.FileTooBig => NfsStat4.FBig,
        FsStatus.WrongType => NfsStat4.WrongType,
        FsStatus.Symlink => NfsStat4.Symlink,
        FsStatus.TooManyLinks => NfsStat4.MLink,
        FsStatus.Delay => NfsStat4.Delay,
        FsStatus.LayoutBusy => NfsStat4.Delay,
        FsStatus.NoXattr => NfsStat4.NoXattr,
        FsStatus.XattrTooBig => NfsStat4.Xattr2Big,
        _ => NfsStat4.Io,
    };
}
