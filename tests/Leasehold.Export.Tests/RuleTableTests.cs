using Leasehold.Export;
using Leasehold.Export.Native;
using static Leasehold.Export.Tests.TreeSteps;

namespace Leasehold.Export.Tests;

/// <summary>The pure rules, as tables: errno → status, and mode bits → allowed.</summary>
public sealed class RuleTableTests
{
    [Theory]
    [InlineData(Errno.ENOENT, FsStatus.NotFound)]
    [InlineData(Errno.EEXIST, FsStatus.Exists)]
    [InlineData(Errno.ENOTDIR, FsStatus.NotDirectory)]
    [InlineData(Errno.EISDIR, FsStatus.IsDirectory)]
    [InlineData(Errno.ENOTEMPTY, FsStatus.NotEmpty)]
    [InlineData(Errno.EACCES, FsStatus.AccessDenied)]
    [InlineData(Errno.EPERM, FsStatus.NotPermitted)]
    [InlineData(Errno.ESTALE, FsStatus.Stale)]
    [InlineData(Errno.ENAMETOOLONG, FsStatus.NameTooLong)]
    [InlineData(Errno.EINVAL, FsStatus.Invalid)]
    [InlineData(Errno.ENOSPC, FsStatus.NoSpace)]
    [InlineData(Errno.EDQUOT, FsStatus.NoSpace)]
    [InlineData(Errno.EROFS, FsStatus.ReadOnly)]
    [InlineData(Errno.EXDEV, FsStatus.CrossDevice)]
    [InlineData(Errno.EFBIG, FsStatus.FileTooBig)]
    [InlineData(Errno.EMLINK, FsStatus.TooManyLinks)]
    [InlineData(Errno.ELOOP, FsStatus.Symlink)]
    [InlineData(Errno.EIO, FsStatus.Io)]
    [InlineData(Errno.EBADF, FsStatus.Io)]
    [InlineData(12345, FsStatus.Io)]
    public void Errno_maps_to_its_status_and_anything_else_to_Io(int errno, FsStatus expected)
    {
        Assert.Equal(expected, FsErrors.ToFsStatus(errno));
    }

    [Theory]
    // caller uid, gid, file uid, gid, mode, directory?, wanted rwx, allowed
    [InlineData(1000u, 1000u, 1000u, 1000u, 600u, false, 6u, true)]
    [InlineData(1000u, 1000u, 1000u, 1000u, 600u, false, 1u, false)]
    [InlineData(1000u, 1000u, 2000u, 1000u, 640u, false, 4u, true)]   // group read
    [InlineData(1000u, 1000u, 2000u, 1000u, 640u, false, 2u, false)]
    [InlineData(1000u, 1000u, 1000u, 1000u, 077u, false, 4u, false)]  // the owner class decides, even if others may
    [InlineData(1000u, 1000u, 2000u, 2000u, 604u, false, 4u, true)]   // other read
    [InlineData(0u, 0u, 1000u, 1000u, 000u, false, 6u, true)]         // root reads and writes anything
    [InlineData(0u, 0u, 1000u, 1000u, 644u, false, 1u, false)]        // but executes only with some x bit
    [InlineData(0u, 0u, 1000u, 1000u, 001u, false, 1u, true)]
    [InlineData(0u, 0u, 1000u, 1000u, 000u, true, 1u, true)]          // and searches any directory
    public void Mode_bits_decide_for_the_first_matching_class(uint uid, uint gid, uint fileUid, uint fileGid, uint mode, bool directory, uint wanted, bool allowed)
    {
        Assert.Equal(allowed, ModeBits.Allows(new Caller(uid, gid, []), fileUid, fileGid, Octal(mode), directory, wanted));
    }
}
