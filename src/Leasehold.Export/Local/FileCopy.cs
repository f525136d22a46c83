#pragma warning disable CA1822 // a skeleton until the operations are implemented; remove with the first real body
using Leasehold.Export.Native;

namespace Leasehold.Export.Local;

/// <summary>COPY (copy_file_range) and CLONE (FICLONERANGE) inside the export: <see cref="IFileSpace.CopyAsync"/>, <see cref="IFileSpace.CloneAsync"/>.</summary>
internal sealed class FileCopy(LocalDirectoryTree tree)
{
    public uint CloneBlockSize => 0;

    public ValueTask<FsResult<CopyOutcome>> CopyAsync(Caller caller, FileHandle source, long sourceOffset, FileHandle destination, long destinationOffset,
        long count, WriteStability stability, ChangeContext context, Action<long>? progress, CancellationToken cancellationToken) =>
        new(FsStatus.NotSupported);

    public ValueTask<FsStatus> CloneAsync(Caller caller, FileHandle source, long sourceOffset, FileHandle destination, long destinationOffset,
        long count, ChangeContext context, CancellationToken cancellationToken) =>
        new(FsStatus.NotSupported);

    internal LocalDirectoryTree Tree => tree;
}
