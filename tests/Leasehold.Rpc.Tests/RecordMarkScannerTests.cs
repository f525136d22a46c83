using System.Buffers;
using System.Buffers.Binary;
using Leasehold.Rpc.Framing;

namespace Leasehold.Rpc.Tests;

public sealed class RecordMarkScannerTests
{
    private static byte[] Fragment(bool last, params byte[] data)
    {
        var bytes = new byte[4 + data.Length];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, (last ? 0x8000_0000u : 0) | (uint)data.Length);
        data.CopyTo(bytes, 4);
        return bytes;
    }

    [Fact]
    public void Single_fragment_record_is_found_whole()
    {
        var bytes = Fragment(true, 1, 2, 3, 4).Concat(Fragment(true, 9)).ToArray();
        var status = RecordMarkScanner.TryScan(new ReadOnlySequence<byte>(bytes), 1024, 8, out long consumed, out int payload, out int fragments);
        Assert.Equal((RecordScanStatus.Done, 8L, 4, 1), (status, consumed, payload, fragments));
    }

    [Fact]
    public void Multi_fragment_record_is_joined_without_its_headers()
    {
        var bytes = Fragment(false, 1, 2).Concat(Fragment(false)).Concat(Fragment(true, 3, 4, 5)).ToArray();
        var sequence = new ReadOnlySequence<byte>(bytes);
        Assert.Equal(RecordScanStatus.Done, RecordMarkScanner.TryScan(sequence, 1024, 8, out long consumed, out int payload, out int fragments));
        Assert.Equal((bytes.Length, 5, 3), ((int)consumed, payload, fragments));
        var data = new byte[payload];
        RecordMarkScanner.CopyPayload(sequence.Slice(0, consumed), data);
        Assert.Equal([1, 2, 3, 4, 5], data);
    }

    [Fact]
    public void Record_split_across_segments_is_found_once_all_of_it_is_there()
    {
        var bytes = Fragment(true, 1, 2, 3, 4, 5, 6);
        for (int cut = 0; cut < bytes.Length; cut++)
        {
            var partial = new ReadOnlySequence<byte>(bytes, 0, cut);
            Assert.Equal(RecordScanStatus.NeedMoreData, RecordMarkScanner.TryScan(partial, 1024, 8, out _, out _, out _));
        }
        var split = Segments(bytes[..3], bytes[3..7], bytes[7..]);
        Assert.Equal(RecordScanStatus.Done, RecordMarkScanner.TryScan(split, 1024, 8, out _, out int payload, out _));
        var data = new byte[payload];
        RecordMarkScanner.CopyPayload(split, data);
        Assert.Equal([1, 2, 3, 4, 5, 6], data);
    }

    [Fact]
    public void Record_announced_larger_than_the_limit_is_refused_from_its_header_alone()
    {
        var header = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(header, 0x8000_0000u | 0x7FFF_FFFFu);
        Assert.Equal(RecordScanStatus.TooLarge, RecordMarkScanner.TryScan(new ReadOnlySequence<byte>(header), 1 << 20, 8, out _, out _, out _));
    }

    [Fact]
    public void Fragments_adding_up_past_the_limit_are_refused()
    {
        var bytes = Fragment(false, new byte[600]).Concat(Fragment(true, new byte[600])).ToArray();
        Assert.Equal(RecordScanStatus.TooLarge, RecordMarkScanner.TryScan(new ReadOnlySequence<byte>(bytes), 1024, 8, out _, out _, out _));
    }

    [Fact]
    public void Endless_empty_fragments_are_refused()
    {
        var bytes = Enumerable.Repeat(Fragment(false), 10).SelectMany(b => b).ToArray();
        Assert.Equal(RecordScanStatus.TooManyFragments, RecordMarkScanner.TryScan(new ReadOnlySequence<byte>(bytes), 1024, 8, out _, out _, out _));
    }

    private static ReadOnlySequence<byte> Segments(params byte[][] parts)
    {
        var first = new Segment(parts[0], 0);
        var last = first;
        foreach (var part in parts.Skip(1))
            last = last.Append(part);
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(byte[] data, long runningIndex)
        {
            Memory = data;
            RunningIndex = runningIndex;
        }

        public Segment Append(byte[] data)
        {
            var next = new Segment(data, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
