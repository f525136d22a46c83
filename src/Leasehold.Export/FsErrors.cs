using Leasehold.Export.Native;

namespace Leasehold.Export;

/// <summary>The one place where a local error becomes an <see cref="FsStatus"/> (SMBLibrary's ToNTStatus, for errno).</summary>
internal static class FsErrors
{
    /// <summary>
    /// Maps an errno from a system call on the export to a status. Anything not named here is <see cref="FsStatus.Io"/>:
    /// the caller logs it, because it means the disk or this server is at fault, not the client.
    /// </summary>
    public static FsStatus ToFsStatus(int errno) => errno switch
    {
        Errno.ENOENT => FsStatus.NotFound,
        Errno.EEXIST => FsStatus.Exists,
        Errno.ENOTDIR => FsStatus.NotDirectory,
        Errno.EISDIR => FsStatus.IsDirectory,
        Errno.ENOTEMPTY => FsStatus.NotEmpty,
        Errno.EACCES => FsStatus.AccessDenied,
        Errno.EPERM => FsStatus.NotPermitted,
        Errno.ESTALE => FsStatus.Stale,
        Errno.ENAMETOOLONG => FsStatus.NameTooLong,
        Errno.EINVAL => FsStatus.Invalid,
        Errno.ENOSPC or Errno.EDQUOT => FsStatus.NoSpace,
        Errno.EROFS => FsStatus.ReadOnly,
        Errno.EXDEV => FsStatus.CrossDevice,
        Errno.EFBIG => FsStatus.FileTooBig,
        Errno.EMLINK => FsStatus.TooManyLinks,
        Errno.ELOOP => FsStatus.Symlink,
        Errno.EOPNOTSUPP => FsStatus.NotSupported,
        Errno.ENXIO => FsStatus.NoData,
        Errno.ENODATA => FsStatus.NoXattr,
        Errno.E2BIG or Errno.ERANGE => FsStatus.XattrTooBig,
        _ => FsStatus.Io,
    };
}
