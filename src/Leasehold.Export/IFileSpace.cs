namespace Leasehold.Export;

/// <summary>
/// The space operations of NFSv4.2 (RFC 7862) on an exported tree: reserving and freeing blocks, finding data and holes,
/// reading with holes, and copying or cloning inside the export. Offsets and lengths are bytes, 0 to 2^63-1; a range
/// that would end past 2^63-1 is <see cref="FsStatus.Invalid"/> (the NFS layer answers NFS4ERR_INVAL). Changes ask the
/// tree's <see cref="IChangeGate"/> first, as every change does: <see cref="ChangeKind.SpaceChange"/> for ALLOCATE,
/// DEALLOCATE and a clone's destination (layouts and other clients' delegations are recalled; an exclusive layout is
/// <see cref="FsStatus.LayoutBusy"/>), <see cref="ChangeKind.Write"/> for a copy's destination.
/// </summary>
/// <remarks>Permission: changes need write permission on the file (or ownership, as for WRITE); SEEK and reads need
/// read permission (or ownership). Every file named here must be a regular file: a directory is IsDirectory, anything
/// else WrongType. A read-only export refuses every change with ReadOnly.</remarks>
public interface IFileSpace
{
    /// <summary>
    /// The block size a clone's offsets and length must be multiples of (the clone_blksize attribute, RFC 7862 §12.2.1),
    /// or 0 when the export's filesystem cannot clone (then <see cref="CloneAsync"/> answers NotSupported).
    /// </summary>
    uint CloneBlockSize { get; }

    /// <summary>
    /// ALLOCATE (RFC 7862 §15.1): reserves blocks for [offset, offset+length) as fallocate(2) with mode 0 does, so later
    /// writes there cannot fail for space; the file grows when the range ends past its size. NoSpace when the
    /// filesystem is full, NotSupported when it cannot preallocate, FileTooBig when the range ends past
    /// <see cref="IExportedTree.MaxFileSize"/>, Invalid for an empty range (fallocate's EINVAL).
    /// </summary>
    ValueTask<FsStatus> AllocateAsync(Caller caller, FileHandle file, long offset, long length, ChangeContext context, CancellationToken cancellationToken);

    /// <summary>
    /// DEALLOCATE (RFC 7862 §15.4): punches a hole over [offset, offset+length) (FALLOC_FL_PUNCH_HOLE | KEEP_SIZE): the
    /// range reads as zeros and its blocks are freed; the size never changes; a range past the end (even past
    /// <see cref="IExportedTree.MaxFileSize"/>) is fine; an empty range is Invalid.
    /// </summary>
    ValueTask<FsStatus> DeallocateAsync(Caller caller, FileHandle file, long offset, long length, ChangeContext context, CancellationToken cancellationToken);

    /// <summary>
    /// SEEK (RFC 7862 §15.11), as lseek(2) SEEK_DATA / SEEK_HOLE: the first offset at or after <paramref name="offset"/>
    /// where <paramref name="what"/> starts (the end of the file counts as a hole). NoData when there is none (ENXIO:
    /// the offset is at or past the end, or only a hole follows when seeking data).
    /// </summary>
    FsResult<long> Seek(Caller caller, FileHandle file, long offset, SeekContent what);

    /// <summary>
    /// READ_PLUS's read (RFC 7862 §15.10): reads up to destination.Length bytes at <paramref name="offset"/> as
    /// <see cref="IExportedTree.Read"/> does (same EndOfFile rule), and describes them in <paramref name="segments"/>
    /// (cleared first): data and holes, in order, covering [offset, offset+Count) exactly. A data segment's bytes are in
    /// destination at (segment.Offset - offset); a hole's bytes there are unspecified (they are zeros on the file).
    /// </summary>
    FsResult<(int Count, bool EndOfFile)> ReadSegments(Caller caller, FileHandle file, long offset, Span<byte> destination, List<FileSegment> segments);

    /// <summary>
    /// COPY inside the export (RFC 7862 §15.2), with copy_file_range(2), so a filesystem that can share blocks (XFS,
    /// btrfs) shares them: <paramref name="count"/> bytes (0 = to the end of the source) from <paramref name="source"/>
    /// at <paramref name="sourceOffset"/> to <paramref name="destination"/> at <paramref name="destinationOffset"/>.
    /// Copies in chunks; <paramref name="progress"/> hears 0 once the copy has passed its checks and the gate (the copy has
    /// started: what an asynchronous COPY waits for before it answers), then the bytes copied so far after each chunk;
    /// it stops when <paramref name="cancellationToken"/> is cancelled, answering Ok with the count copied until then. A
    /// source range past the end copies what there is (a count of 0 when the offset is past the end). Same file with
    /// overlapping ranges is Invalid. With DataSync or FileSync the copied data is on disk before this returns. The
    /// gate's grant on the destination (<see cref="ChangeKind.Write"/>) is held for the whole copy. A filesystem that
    /// cannot share blocks (ext4) gets the source's holes written as zeros, as knfsd's copy does there.
    /// </summary>
    ValueTask<FsResult<CopyOutcome>> CopyAsync(Caller caller, FileHandle source, long sourceOffset, FileHandle destination, long destinationOffset,
        long count, WriteStability stability, ChangeContext context, Action<long>? progress, CancellationToken cancellationToken);

    /// <summary>
    /// CLONE (RFC 7862 §15.13), FICLONERANGE: the destination range shares the source range's blocks. Offsets and count
    /// must be multiples of <see cref="CloneBlockSize"/> (count may run to the source's end); NotSupported when the
    /// filesystem cannot clone, CrossDevice across filesystems, Invalid for a bad alignment or overlapping ranges.
    /// </summary>
    ValueTask<FsStatus> CloneAsync(Caller caller, FileHandle source, long sourceOffset, FileHandle destination, long destinationOffset,
        long count, ChangeContext context, CancellationToken cancellationToken);

    /// <summary>
    /// IO_ADVISE (RFC 7862 §15.5): applies what it can of <paramref name="advice"/> to [offset, offset+length) (length 0:
    /// to the end) with posix_fadvise(2), and answers the advice it applied; a hint it cannot act on is left out, never
    /// claimed.
    /// </summary>
    FsResult<FileAdvice> Advise(Caller caller, FileHandle file, long offset, long length, FileAdvice advice);
}

/// <summary>What SEEK looks for (RFC 7862 data_content4: NFS4_CONTENT_DATA = 0, NFS4_CONTENT_HOLE = 1).</summary>
public enum SeekContent
{
    Data = 0,
    Hole = 1,
}

/// <summary>A run of a file's bytes that is data or a hole, in bytes from the file's start.</summary>
public readonly record struct FileSegment(long Offset, long Length, bool IsHole);

/// <summary>What a copy did: the bytes copied, and how stable they are.</summary>
public readonly record struct CopyOutcome(long Count, WriteStability Committed);

/// <summary>The access-pattern hints the tree can act on (a subset of RFC 7862 IO_ADVISE_type4, by meaning).</summary>
[Flags]
public enum FileAdvice
{
    None = 0,
    Normal = 1,
    Sequential = 2,
    Random = 4,
    WillNeed = 8,
    DontNeed = 16,
    NoReuse = 32,
}
