using Leasehold.Rpc.Xdr;

namespace Leasehold.Rpc.Tests;

public sealed class XdrTests
{
    [Fact]
    public void Values_round_trip_big_endian_with_padding()
    {
        using var w = new XdrWriter(16);
        w.WriteUInt32(0xDEADBEEF);
        w.WriteUInt64(0x0102030405060708);
        w.WriteBool(true);
        w.WriteOpaque([1, 2, 3, 4, 5]);
        w.WriteString("héllo");
        Assert.Equal(0, w.Position % 4);
        Assert.Equal([0xDE, 0xAD, 0xBE, 0xEF], w.WrittenSpan[..4].ToArray());

        var r = new XdrReader(w.WrittenSpan);
        Assert.Equal(0xDEADBEEFu, r.ReadUInt32());
        Assert.Equal(0x0102030405060708ul, r.ReadUInt64());
        Assert.True(r.ReadBool());
        Assert.Equal([1, 2, 3, 4, 5], r.ReadOpaque(16).ToArray());
        Assert.Equal("héllo", r.ReadString(16));
        Assert.Equal(0, r.Remaining);
    }

    [Fact]
    public void Opaque_from_memory_is_a_slice_of_that_memory_and_checked_like_any_opaque()
    {
        byte[] record = [0, 0, 0, 7, 0, 0, 0, 3, 9, 8, 7, 0, 0, 0, 0, 1];
        var r = new XdrReader(record.AsMemory());
        Assert.Equal(7u, r.ReadUInt32());
        var data = r.ReadOpaqueMemory(16);
        Assert.Equal(1u, r.ReadUInt32()); // past the padding
        Assert.Equal([9, 8, 7], data.ToArray());
        record[8] = 42;
        Assert.Equal(42, data.Span[0]); // no copy

        Assert.Throws<XdrException>(() => new XdrReader(record.AsMemory(4)).ReadOpaqueMemory(2)); // over its limit
        Assert.Throws<XdrException>(() => new XdrReader(record.AsMemory(4, 6)).ReadOpaqueMemory(16)); // padding missing
        Assert.Throws<InvalidOperationException>(() => new XdrReader(record.AsSpan(4)).ReadOpaqueMemory(16)); // a span reader has no memory
    }

    [Fact]
    public void Truncated_item_is_malformed()
    {
        var ex = Assert.Throws<XdrException>(() => new XdrReader([0, 0, 0]).ReadUInt32());
        Assert.Contains("past the end", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Opaque_longer_than_its_limit_is_refused_before_reading_it()
    {
        byte[] data = [0, 0, 0x10, 0, 1, 2, 3, 4];
        var ex = Assert.Throws<XdrException>(() => new XdrReader(data).ReadOpaque(1024));
        Assert.Contains("4096 exceeds the limit of 1024", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Opaque_whose_padding_is_missing_is_truncated()
    {
        byte[] data = [0, 0, 0, 5, 1, 2, 3, 4, 5, 0, 0];
        Assert.Throws<XdrException>(() => new XdrReader(data).ReadOpaque(16));
    }

    [Fact]
    public void Array_count_the_remaining_bytes_cannot_hold_is_refused()
    {
        byte[] data = [0, 0, 0, 100, 0, 0, 0, 1];
        Assert.Throws<XdrException>(() => new XdrReader(data).ReadArrayCount(1000));
        Assert.Throws<XdrException>(() => new XdrReader([0xFF, 0xFF, 0xFF, 0xFF]).ReadArrayCount(int.MaxValue));
    }

    [Fact]
    public void Bool_other_than_zero_or_one_is_malformed() =>
        Assert.Throws<XdrException>(() => new XdrReader([0, 0, 0, 2]).ReadBool());

    [Fact]
    public void Writer_grows_past_its_first_buffer_and_can_patch_and_truncate()
    {
        using var w = new XdrWriter(8);
        int count = w.ReserveUInt32();
        for (int i = 0; i < 1000; i++)
            w.WriteUInt32((uint)i);
        w.PatchUInt32(count, 1000);
        Assert.Equal(4004, w.Position);
        w.Truncate(8);
        var r = new XdrReader(w.WrittenSpan);
        Assert.Equal(1000u, r.ReadUInt32());
        Assert.Equal(0u, r.ReadUInt32());
        Assert.Equal(0, r.Remaining);
    }
}
