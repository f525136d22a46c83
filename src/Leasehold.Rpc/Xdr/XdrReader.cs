using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;

namespace Leasehold.Rpc.Xdr;

/// <summary>
/// Reads XDR (RFC 4506) from a span. Every length the peer sends is checked against the bytes remaining and the
/// caller's limit before anything is sliced or allocated (§4.10: variable-length opaque data is padded to 4 bytes).
/// A cursor has to move, so this is a mutable ref struct passed by <c>ref</c>.
/// </summary>
public ref struct XdrReader(ReadOnlySpan<byte> data)
{
    private ReadOnlySpan<byte> _rest = data;
    private readonly int _length = data.Length;
    private readonly ReadOnlyMemory<byte> _memory;
    private readonly bool _hasMemory;

    /// <summary>A reader over memory: <see cref="ReadOpaqueMemory"/> can then hand out slices that outlive the reader.</summary>
    public XdrReader(ReadOnlyMemory<byte> data)
        : this(data.Span)
    {
        _memory = data;
        _hasMemory = true;
    }

    public readonly int Remaining => _rest.Length;

    /// <summary>Bytes consumed so far.</summary>
    public readonly int Position => _length - _rest.Length;

    /// <summary>The bytes not yet read.</summary>
    public readonly ReadOnlySpan<byte> Rest => _rest;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint ReadUInt32()
    {
        if (_rest.Length < 4)
            XdrException.ThrowTruncated();
        uint value = BinaryPrimitives.ReadUInt32BigEndian(_rest);
        _rest = _rest[4..];
        return value;
    }

    public int ReadInt32() => (int)ReadUInt32();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong ReadUInt64()
    {
        if (_rest.Length < 8)
            XdrException.ThrowTruncated();
        ulong value = BinaryPrimitives.ReadUInt64BigEndian(_rest);
        _rest = _rest[8..];
        return value;
    }

    public long ReadInt64() => (long)ReadUInt64();

    /// <summary>An XDR bool: 0 or 1, anything else is malformed.</summary>
    public bool ReadBool()
    {
        uint value = ReadUInt32();
        if (value > 1)
            XdrException.Throw($"XDR bool has value {value}.");
        return value == 1;
    }

    /// <summary>Fixed-length opaque data (§4.9): exactly <paramref name="length"/> bytes plus padding.</summary>
    public ReadOnlySpan<byte> ReadFixedOpaque(int length)
    {
        int padded = Padded(length);
        if (_rest.Length < padded)
            XdrException.ThrowTruncated();
        var value = _rest[..length];
        _rest = _rest[padded..];
        return value;
    }

    /// <summary>Variable-length opaque data (§4.10) of at most <paramref name="max"/> bytes. Returns a slice: no copy.</summary>
    public ReadOnlySpan<byte> ReadOpaque(int max)
    {
        uint length = ReadUInt32();
        if (length > (uint)max)
            XdrException.ThrowTooLong(length, max);
        return ReadFixedOpaque((int)length);
    }

    /// <summary>
    /// Variable-length opaque data (§4.10) of at most <paramref name="max"/> bytes, as a slice of the memory the reader
    /// was made over (no copy; valid as long as that memory is). Only for a reader made over memory:
    /// <see cref="InvalidOperationException"/> otherwise.
    /// </summary>
    public ReadOnlyMemory<byte> ReadOpaqueMemory(int max)
    {
        if (!_hasMemory)
            throw new InvalidOperationException("This XdrReader reads a span: ReadOpaqueMemory needs one made over memory.");
        uint length = ReadUInt32();
        if (length > (uint)max)
            XdrException.ThrowTooLong(length, max);
        int start = Position;
        ReadFixedOpaque((int)length);
        return _memory.Slice(start, (int)length);
    }

    /// <summary>
    /// Fixed-length opaque data (§4.9) as a slice of the memory the reader was made over (no copy), as
    /// <see cref="ReadOpaqueMemory"/>; <see cref="InvalidOperationException"/> for a reader made over a span.
    /// </summary>
    public ReadOnlyMemory<byte> ReadFixedOpaqueMemory(int length)
    {
        if (!_hasMemory)
            throw new InvalidOperationException("This XdrReader reads a span: ReadFixedOpaqueMemory needs one made over memory.");
        int start = Position;
        ReadFixedOpaque(length);
        return _memory.Slice(start, length);
    }

    /// <summary>A string (§4.11) of at most <paramref name="max"/> bytes, decoded as UTF-8 (RFC 8881 §1.6: UTF-8 on the wire).</summary>
    public string ReadString(int max)
    {
        var bytes = ReadOpaque(max);
        return bytes.IsEmpty ? string.Empty : Encoding.UTF8.GetString(bytes);
    }

    /// <summary>
    /// The count of a variable-length array (§4.13), checked against <paramref name="max"/> and against the bytes left,
    /// assuming each element takes at least <paramref name="minElementSize"/> bytes, so a peer cannot make us loop or
    /// allocate on a count it has no bytes for.
    /// </summary>
    public int ReadArrayCount(int max, int minElementSize = 4)
    {
        uint count = ReadUInt32();
        if (count > (uint)max)
            XdrException.ThrowTooLong(count, max);
        if ((ulong)count * (ulong)Math.Max(minElementSize, 0) > (ulong)_rest.Length)
            XdrException.ThrowTruncated();
        return (int)count;
    }

    public void Skip(int bytes)
    {
        if (bytes < 0 || _rest.Length < bytes)
            XdrException.ThrowTruncated();
        _rest = _rest[bytes..];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Padded(int length) => (length + 3) & ~3;
}
