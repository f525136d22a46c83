#pragma warning disable CA1822 // a skeleton until the operations are implemented; remove with the first real body
using Leasehold.Export.Native;

namespace Leasehold.Export.Local;

/// <summary>
/// <see cref="IFileSpace"/> over the local directory: ALLOCATE and DEALLOCATE (fallocate), SEEK (lseek SEEK_DATA /
/// SEEK_HOLE), READ_PLUS's read and IO_ADVISE (posix_fadvise); COPY and CLONE are <see cref="FileCopy"/>'s.
/// </summary>
internal sealed class FileSpace(LocalDirectoryTree tree, FileCopy copies) : IFileSpace
{
    public uint CloneBlockSize => copies.CloneBlockSize;

    public ValueTask<FsStatus> AllocateAsync(Caller caller, FileHandle file, long offset, long length, ChangeContext context, CancellationToken cancellationToken) =>
        new(FsStatus.NotSupported);

    public ValueTask<FsStatus> DeallocateAsync(Caller caller, FileHandle file, long offset, long length, ChangeContext context, CancellationToken cancellationToken) =>
        new(FsStatus.NotSupported);

    public FsResult<long> Seek(Caller caller, FileHandle file, long offset, SeekContent what) => FsStatus.NotSupported;

    public FsResult<(int Count, bool EndOfFile)> ReadSegments(Caller caller, FileHandle file, long offset, Span<byte> destination, List<FileSegment> segments) =>
        FsStatus.NotSupported;

    public ValueTask<FsResult<CopyOutcome>> CopyAsync(Caller caller, FileHandle source, long sourceOffset, FileHandle destination, long destinationOffset,
        long count, WriteStability stability, ChangeContext context, Action<long>? progress, CancellationToken cancellationToken) =>
        copies.CopyAsync(caller, source, sourceOffset, destination, destinationOffset, count, stability, context, progress, cancellationToken);

    public ValueTask<FsStatus> CloneAsync(Caller caller, FileHandle source, long sourceOffset, FileHandle destination, long destinationOffset,
        long count, ChangeContext context, CancellationToken cancellationToken) =>
        copies.CloneAsync(caller, source, sourceOffset, destination, destinationOffset, count, context, cancellationToken);

    public FsResult<FileAdvice> Advise(Caller caller, FileHandle file, long offset, long length, FileAdvice advice) => FileAdvice.None;

    internal LocalDirectoryTree Tree => tree;
}
