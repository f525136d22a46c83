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

    /// <summary>
    /// Makes written data as stable as a WRITE or COPY promised (RFC 8881 §18.32.3 stable_how4): fsync for
    /// <see cref="WriteStability.FileSync"/>, fdatasync for <see cref="WriteStability.DataSync"/>, nothing for
    /// <see cref="WriteStability.Unstable"/> (a later COMMIT does it). <see cref="FsStatus.Ok"/>, or the call's failure.
    /// </summary>
    public FsStatus Stabilize(SafeFd output, WriteStability stability) => stability switch
    {
        WriteStability.FileSync when LibC.fsync(output) != 0 => Fail(nameof(LibC.fsync)),
        WriteStability.DataSync when LibC.fdatasync(output) != 0 => Fail(nameof(LibC.fdatasync)),
        _ => FsStatus.Ok,
    };

    /// <summary>The answer to a change the <see cref="IChangeGate"/> refused: nothing changed.</summary>
    public static FsStatus Refused(in ChangeGrant grant) => grant.Refusal switch
    {
        ChangeRefusal.LayoutBusy => FsStatus.LayoutBusy,
        _ => FsStatus.Delay,
    };
}
