using System.Buffers;
using System.Buffers.Binary;

namespace Leasehold.Rpc.Framing;

/// <summary>What the scanner found at the start of a buffer.</summary>
public enum RecordScanStatus
{
    /// <summary>A whole record is there.</summary>
    Done,

    /// <summary>Not yet: read more bytes and scan again. Never an error.</summary>
    NeedMoreData,

    /// <summary>The record's fragments add up to more than the limit. The connection must be closed: the stream cannot be resynchronised.</summary>
    TooLarge,

    /// <summary>The record has more fragments than the limit (a peer feeding empty fragments). Close the connection.</summary>
    TooManyFragments,
}

/// <summary>
/// Finds where an ONC RPC record ends in a TCP byte stream (RFC 5531 §11, record marking). Each fragment starts
/// with a 4-byte big-endian header: the top bit marks the last fragment of the record, the other 31 bits are the
/// fragment's length. Finding the end of a record is kept apart from parsing it, as in RESP frame scanning: the
/// scanner never allocates and never throws for "not yet".
/// </summary>
public static class RecordMarkScanner
{
    private const uint LastFragmentBit = 0x8000_0000;

    /// <summary>
    /// Scans <paramref name="buffer"/> for one whole record. On Done, <paramref name="consumed"/> is the record's size on
    /// the wire (headers included) and <paramref name="payloadLength"/> the size of its data once the headers are gone.
    /// Each fragment's length is checked against <paramref name="maxRecordSize"/> before waiting for its bytes, so a
    /// peer that announces a huge record is refused at once instead of being buffered.
    /// </summary>
    public static RecordScanStatus TryScan(in ReadOnlySequence<byte> buffer, int maxRecordSize, int maxFragments,
        out long consumed, out int payloadLength, out int fragments)
    {
        consumed = 0;
        payloadLength = 0;
        fragments = 0;
        long position = 0;
        long total = 0;
        Span<byte> header = stackalloc byte[4];
        while (true)
        {
            if (buffer.Length - position < 4)
                return RecordScanStatus.NeedMoreData;
            buffer.Slice(position, 4).CopyTo(header);
            uint mark = BinaryPrimitives.ReadUInt32BigEndian(header);
            uint length = mark & ~LastFragmentBit;
            total += length;
            if (total > maxRecordSize)
                return RecordScanStatus.TooLarge;
            if (++fragments > maxFragments)
                return RecordScanStatus.TooManyFragments;
            if (buffer.Length - position - 4 < length)
                return RecordScanStatus.NeedMoreData;
            position += 4 + length;
            if ((mark & LastFragmentBit) != 0)
            {
                consumed = position;
                payloadLength = (int)total;
                return RecordScanStatus.Done;
            }
        }
    }

    /// <summary>Copies the data of a record found by <see cref="TryScan"/> (its fragments without their headers) into <paramref name="destination"/>.</summary>
    public static void CopyPayload(in ReadOnlySequence<byte> record, Span<byte> destination)
    {
        long position = 0;
        int written = 0;
        Span<byte> header = stackalloc byte[4];
        while (position < record.Length)
        {
            record.Slice(position, 4).CopyTo(header);
            uint mark = BinaryPrimitives.ReadUInt32BigEndian(header);
            int length = (int)(mark & ~LastFragmentBit);
            record.Slice(position + 4, length).CopyTo(destination[written..]);
            written += length;
            position += 4 + length;
        }
    }

    /// <summary>
    /// Copies the first bytes of a record's data (found by <see cref="TryScan"/>), across fragments, into
    /// <paramref name="destination"/> without copying the rest; returns how many were copied (fewer when the record is shorter).
    /// </summary>
    public static int PeekPayload(in ReadOnlySequence<byte> record, Span<byte> destination)
    {
        long position = 0;
        int written = 0;
        Span<byte> header = stackalloc byte[4];
        while (written < destination.Length && position < record.Length)
        {
            record.Slice(position, 4).CopyTo(header);
            uint mark = BinaryPrimitives.ReadUInt32BigEndian(header);
            int length = (int)(mark & ~LastFragmentBit);
            int take = Math.Min(length, destination.Length - written);
            record.Slice(position + 4, take).CopyTo(destination[written..]);
            written += take;
            position += 4 + length;
        }
        return written;
    }

    /// <summary>The header of a single-fragment record of <paramref name="payloadLength"/> bytes.</summary>
    public static uint LastFragmentMark(int payloadLength) => LastFragmentBit | (uint)payloadLength;
}
