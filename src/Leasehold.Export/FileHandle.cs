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

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.AddBytes(Span);
        return hash.ToHashCode();
    }

    public static bool operator ==(FileHandle left, FileHandle right) => left.Equals(right);

    public static bool operator !=(FileHandle left, FileHandle right) => !left.Equals(right);

    public override string ToString() => Convert.ToHexString(Span);
}
