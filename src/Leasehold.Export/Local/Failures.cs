using Leasehold.Export.Native;
using Microsoft.Extensions.Logging;

namespace Leasehold.Export.Local;

/// <summary>
/// How a failed system call or a refused change becomes an <see cref="FsStatus"/>, for every part of the tree. errno is
/// read right after the failing call, before any other call (closing an fd sets errno too): call <see cref="Fail(string)"/>
/// first, or read <see cref="LibC.LastErrno"/> into a local and pass it.
/// </summary>
internal sealed class Failures(ILogger logger)
{
    public FsStatus Fail(string operation) => Fail(operation, LibC.LastErrno);

    /// <summary>Maps errno through <see cref="FsErrors.ToFsStatus"/>; an errno it does not name is logged, once, here.</summary>
    public FsStatus Fail(string operation, int errno)
    {
        FsStatus status = FsErrors.ToFsStatus(errno);
        if (status == FsStatus.Io)
            Log.UnexpectedErrno(logger, operation, errno);
        return status;
    }

    /// <summary>The answer to a change the <see cref="IChangeGate"/> refused: nothing changed.</summary>
    public static FsStatus Refused(in ChangeGrant grant) => grant.Refusal switch
    {
        ChangeRefusal.LayoutBusy => FsStatus.LayoutBusy,
        _ => FsStatus.Delay,
    };
}
