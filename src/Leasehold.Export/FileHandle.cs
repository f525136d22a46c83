namespace Leasehold.Export;

/// <summary>
/// An opaque, persistent handle for a file in the export, at most <see cref="MaxSize"/> bytes (NFS4_FHSIZE). The bytes
/// are only ever made by the export that resolves them: it signs them, so a forged or corrupted handle is refused
/// as <see cref="FsStatus.BadHandle"/> and can never reach outside the export.
/// </summary>
public readonly struct FileHandle : IEquatable<FileHandle>
{
    public const int MaxSize = 128;

    private readonly byte[]? _bytes;

    public FileHandle(byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        if (bytes.Length is 0 or > MaxSize)
            throw new ArgumentOutOfRangeException(nameof(bytes), bytes.Length, $"A file handle has 1 to {MaxSize} bytes.");
        _bytes = bytes;
    }

    public ReadOnlySpan<byte> Span => _bytes;

    public int Length => _bytes?.Length ?? 0;

    public bool IsEmpty => _bytes is null;

    /// <summary>Copies handle bytes received from a client; null if the length is out of range.</summary>
    public static FileHandle? FromWire(ReadOnlySpan<byte> bytes) =>
        bytes.Length is 0 or > MaxSize ? null : new FileHandle(bytes.ToArray());

    public bool Equals(FileHandle other) => Span.SequenceEqual(other.Span);

    public override bool Equals(object? obj) => obj is FileHandle other && Equals(other);

    public override int GetHashCode() => HashOf(Span);

    /// <summary>The hash a handle of these bytes has, so a received handle can be looked up before it is copied.</summary>
    public static int HashOf(ReadOnlySpan<byte> bytes)
    {
        var hash = new HashCode();
        hash.AddBytes(bytes);
        return hash.ToHashCode();
    }

    public static bool operator ==(FileHandle left, FileHandle right) => left.Equals(right);

    public static bool operator !=(FileHandle left, FileHandle right) => !left.Equals(right);

    public override string ToString() => Convert.ToHexString(Span);
}

/// <summary>
/// Compares handles by their bytes, and a handle with the bytes of one received, so a dictionary of handles is searched
/// with the received bytes without copying them first (.NET's alternate lookup).
/// </summary>
public sealed class FileHandleComparer : IEqualityComparer<FileHandle>, IAlternateEqualityComparer<ReadOnlySpan<byte>, FileHandle>
{
    public static FileHandleComparer Instance { get; } = new();

    public bool Equals(FileHandle x, FileHandle y) => x.Equals(y);

    public int GetHashCode(FileHandle handle) => handle.GetHashCode();

    public bool Equals(ReadOnlySpan<byte> alternate, FileHandle other) => alternate.SequenceEqual(other.Span);

    public int GetHashCode(ReadOnlySpan<byte> alternate) => FileHandle.HashOf(alternate);

    /// <summary>Copies the bytes into a handle; throws <see cref="ArgumentOutOfRangeException"/> outside 1 to <see cref="FileHandle.MaxSize"/> bytes.</summary>
    public FileHandle Create(ReadOnlySpan<byte> alternate) => new(alternate.ToArray());
}
