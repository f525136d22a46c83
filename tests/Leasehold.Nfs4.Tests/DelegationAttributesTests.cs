using Leasehold.Export;
using Leasehold.Nfs4.Attributes;
using Leasehold.Nfs4.Callbacks;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Tests;

/// <summary>
/// RFC 9754's delegated times: the vetting rule (knfsd <c>nfsd4_vet_deleg_time</c>) at its boundaries, and the
/// CB_GETATTR answers the server takes from a holder (change and size, optionally the two delegated times).
/// </summary>
public sealed class DelegationAttributesTests
{
    private static readonly FsTime Original = new(1_600_000_000, 500);
    private static readonly FsTime Now = new(1_700_000_000, 0);

    [Fact]
    public void A_time_not_after_the_original_is_ignored()
    {
        var same = Original;
        var earlier = new FsTime(Original.Seconds, Original.Nanoseconds - 1);

        Assert.False(DelegationAttributes.Vet(ref same, Original, Now));
        Assert.False(DelegationAttributes.Vet(ref earlier, Original, Now));
    }

    [Fact]
    public void A_time_after_the_original_stands_and_one_after_now_is_clamped_to_now()
    {
        var later = new FsTime(Original.Seconds, Original.Nanoseconds + 1);
        var exactlyNow = Now;
        var future = new FsTime(Now.Seconds + 1, 0);

        Assert.True(DelegationAttributes.Vet(ref later, Original, Now));
        Assert.Equal(new FsTime(Original.Seconds, Original.Nanoseconds + 1), later);
        Assert.True(DelegationAttributes.Vet(ref exactlyNow, Original, Now));
        Assert.Equal(Now, exactlyNow);
        Assert.True(DelegationAttributes.Vet(ref future, Original, Now));
        Assert.Equal(Now, future);
    }

    [Fact]
    public void A_CB_GETATTR_answer_with_the_delegated_times_is_read_in_attribute_order()
    {
        var answer = Answer([Attr.Change, Attr.Size, Attr.TimeDelegAccess, Attr.TimeDelegModify], w =>
        {
            w.WriteUInt64(42);
            w.WriteUInt64(4096);
            w.WriteInt64(1_650_000_000);
            w.WriteUInt32(1);
            w.WriteInt64(1_660_000_000);
            w.WriteUInt32(2);
        });

        Assert.True(CbGetAttrCall.TryRead(answer, out var holder));
        Assert.Equal(new HolderAttributes(42, 4096, new FsTime(1_650_000_000, 1), new FsTime(1_660_000_000, 2)), holder);
    }

    [Fact]
    public void A_CB_GETATTR_answer_without_the_times_is_change_and_size_alone()
    {
        var answer = Answer([Attr.Change, Attr.Size], w =>
        {
            w.WriteUInt64(7);
            w.WriteUInt64(5);
        });

        Assert.True(CbGetAttrCall.TryRead(answer, out var holder));
        Assert.Equal(new HolderAttributes(7, 5), holder);
    }

    [Fact]
    public void A_CB_GETATTR_answer_without_size_with_an_attribute_not_asked_for_or_a_bad_time_is_unusable()
    {
        var noSize = Answer([Attr.Change, Attr.TimeDelegModify], w =>
        {
            w.WriteUInt64(7);
            w.WriteInt64(1);
            w.WriteUInt32(0);
        });
        var extra = Answer([Attr.Change, Attr.Size, Attr.Mode], w =>
        {
            w.WriteUInt64(7);
            w.WriteUInt64(5);
            w.WriteUInt32(0x1A4);
        });
        var badNanoseconds = Answer([Attr.Change, Attr.Size, Attr.TimeDelegModify], w =>
        {
            w.WriteUInt64(7);
            w.WriteUInt64(5);
            w.WriteInt64(1);
            w.WriteUInt32(1_000_000_000);
        });

        Assert.False(CbGetAttrCall.TryRead(noSize, out _));
        Assert.False(CbGetAttrCall.TryRead(extra, out _));
        Assert.False(CbGetAttrCall.TryRead(badNanoseconds, out _));
    }

    /// <summary>A fattr4 (CB_GETATTR4resok) of <paramref name="attrs"/> whose values <paramref name="values"/> writes.</summary>
    private static byte[] Answer(int[] attrs, Action<XdrWriter> values)
    {
        using var w = new XdrWriter(256);
        Wire.WriteBitmap(w, Attr.Bitmap(attrs));
        int lengthAt = w.ReserveUInt32();
        int start = w.Position;
        values(w);
        w.PatchUInt32(lengthAt, (uint)(w.Position - start));
        return w.WrittenSpan.ToArray();
    }
}
