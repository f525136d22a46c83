using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;

namespace Leasehold.Rpc.Xdr;

/// <summary>
/// Writes XDR into a pooled, growable buffer. One writer builds one reply: the record mark is reserved first and
/// filled in once the length is known (<see cref="ReplyBuffer"/>). Not thread-safe; not a ref struct, so an operation
/// can keep encoding across an await.
/// </summary>
public sealed class XdrWriter : IDisposable
{
    private byte[] _buffer;
    private int _position;

    public XdrWriter(int initialCapacity = 4096) => _buffer = ArrayPool<byte>.Shared.Rent(initialCapacity);

    public int Position => _position;

    /// <summary>Bytes of buffer the writer holds (at least <see cref="Position"/>); what a queued reply costs in memory.</summary>
    public int Capacity => _buffer.Length;

    public ReadOnlyMemory<byte> WrittenMemory => _buffer.AsMemory(0, _position);

    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, _position);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteUInt32(uint value)
    {
        BinaryPrimitives.WriteUInt32BigEndian(Reserve(4), value);
        _position += 4;
    }

    public void WriteInt32(int value) => WriteUInt32((uint)value);

    public void WriteUInt64(ulong value)
    {
        BinaryPrimitives.WriteUInt64BigEndian(Reserve(8), value);
        _position += 8;
    }

    public void WriteInt64(long value) => WriteUInt64((ulong)value);

    public void WriteBool(bool value) => WriteUInt32(value ? 1u : 0u);

    public void WriteFixedOpaque(ReadOnlySpan<byte> value)
    {
        int padded = XdrReader.Padded(value.Length);
        var span = Reserve(padded);
        value.CopyTo(span);
        span[value.Length..padded].Clear();
        _position += padded;
    }

    public void WriteOpaque(ReadOnlySpan<byte> value)
    {
        WriteUInt32((uint)value.Length);
        WriteFixedOpaque(value);
    }

    public void WriteString(string value)
    {
        int length = Encoding.UTF8.GetByteCount(value);
        WriteUInt32((uint)length);
        int padded = XdrReader.Padded(length);
        var span = Reserve(padded);
        Encoding.UTF8.GetBytes(value, span);
        span[length..padded].Clear();
        _position += padded;
    }

    /// <summary>Reserves a 4-byte slot to fill in later (a length or a count known only after what follows is written).</summary>
    public int ReserveUInt32()
    {
        int at = _position;
        WriteUInt32(0);
        return at;
    }

    public void PatchUInt32(int at, uint value) => BinaryPrimitives.WriteUInt32BigEndian(_buffer.AsSpan(at, 4), value);

    /// <summary>A span of <paramref name="count"/> bytes to fill directly (a READ reply's data), then <see cref="Advance"/>.</summary>
    public Span<byte> GetSpan(int count) => Reserve(count);

    public void Advance(int count)
    {
        if ((uint)count > (uint)(_buffer.Length - _position))
            throw new ArgumentOutOfRangeException(nameof(count));
        _position += count;
    }

    /// <summary>Forgets everything written after <paramref name="position"/> (to replace a half-written result with an error).</summary>
    public void Truncate(int position)
    {
        if ((uint)position > (uint)_position)
            throw new ArgumentOutOfRangeException(nameof(position));
        _position = position;
    }

    public void Reset() => _position = 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Span<byte> Reserve(int count)
    {
        if (_buffer.Length - _position < count)
            Grow(count);
        return _buffer.AsSpan(_position, count);
    }

    private void Grow(int count)
    {
        int size = Math.Max(_buffer.Length * 2, _position + count);
        var bigger = ArrayPool<byte>.Shared.Rent(size);
        _buffer.AsSpan(0, _position).CopyTo(bigger);
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = bigger;
    }

    public void Dispose()
    {
        var buffer = _buffer;
        _buffer = [];
        _position = 0;
        if (buffer.Length > 0)
            ArrayPool<byte>.Shared.Return(buffer);
    }
}
