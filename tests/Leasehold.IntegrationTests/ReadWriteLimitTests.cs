using Leasehold.Nfs4.Client;

namespace Leasehold.IntegrationTests;

/// <summary>
/// READ at or past the end of a file, at any offset (issue 6, item 3; RFC 8881 §18.22.3), and WRITE ranges that end
/// beyond the largest file the export can hold (§18.32.3), which the maxfilesize attribute reports.
/// </summary>
public sealed class ReadWriteLimitTests(ServerFixture fx) : IClassFixture<ServerFixture>
{
    private static readonly byte[] TenBytes = "0123456789"u8.ToArray();

    private Nfs4Session S => fx.Session;

    private async Task<(OpenedFile File, string Path)> TenByteFileAsync()
    {
        string name = ServerFixture.NewName("ten");
        var f = (await S.CreateAsync(await fx.RootAsync(), name).Bounded()).ValueOrThrow();
        Assert.True((await S.WriteAsync(f.FileHandle, f.StateId, 0, TenBytes).Bounded()).IsOk);
        return (f, Path.Join(fx.ExportPath, name));
    }

    [Theory]
    [InlineData(10UL, 1U)]
    [InlineData(11UL, 1U)]
    [InlineData(10UL, 0U)]
    [InlineData(4096UL, 65536U)]
    [InlineData(0x7fff_ffff_ffff_fff0UL, 100U)]        // offset + count passes 2^63-1
    [InlineData(0x7fff_ffff_ffff_ffffUL, 1U)]          // the reported input
    [InlineData(0x7fff_ffff_ffff_ffffUL, 0U)]
    [InlineData(0x8000_0000_0000_0000UL, 1U)]          // beyond any off_t
    [InlineData(0xffff_ffff_ffff_fff0UL, 0xffff_ffffU)] // offset + count overflows 64 bits
    [InlineData(ulong.MaxValue, 1U)]
    public async Task Read_at_or_past_the_end_is_no_data_and_eof(ulong offset, uint count)
    {
        var (f, _) = await TenByteFileAsync();

        var read = await S.ReadAsync(f.FileHandle, f.StateId, offset, count).Bounded();

        Assert.Equal(NfsStat4.Ok, read.Status);
        Assert.Empty(read.Value!.Data.ToArray());
        Assert.True(read.Value.Eof);
    }

    [Fact]
    public async Task Read_inside_the_file_stops_at_its_end_and_a_zero_count_is_not_eof()
    {
        var (f, _) = await TenByteFileAsync();

        var tail = (await S.ReadAsync(f.FileHandle, f.StateId, 5, uint.MaxValue).Bounded()).ValueOrThrow();
        Assert.Equal("56789"u8.ToArray(), tail.Data.ToArray());
        Assert.True(tail.Eof);

        var nothing = (await S.ReadAsync(f.FileHandle, f.StateId, 3, 0).Bounded()).ValueOrThrow();
        Assert.Empty(nothing.Data.ToArray());
        Assert.False(nothing.Eof);
    }

    [Fact]
    public async Task Read_far_past_the_end_of_a_directory_is_still_ISDIR()
    {
        var root = await fx.RootAsync();
        var read = await S.ReadAsync(root, default, ulong.MaxValue, 1).Bounded();
        Assert.Equal(NfsStat4.IsDir, read.Status);
    }

    [Fact]
    public async Task Write_ending_beyond_maxfilesize_is_FBIG_and_changes_nothing()
    {
        var (f, path) = await TenByteFileAsync();
        ulong max = (await S.GetAttrAsync(f.FileHandle, AttrBitmap.Of(FileAttr.MaxFileSize)).Bounded()).ValueOrThrow().MaxFileSize!.Value;
        Assert.InRange(max, 1UL << 32, (ulong)long.MaxValue); // what an ext4, xfs, btrfs or tmpfs export can hold

        (ulong Offset, int Length)[] beyond =
        [
            (max, 1),                          // starts at the limit
            (max - 1, 2),                      // straddles it: nothing of it is written
            ((ulong)long.MaxValue, 1),
            (1UL << 63, 1),
            (ulong.MaxValue - 1, 4),           // offset + length overflows 64 bits
            (ulong.MaxValue, 0),
        ];
        foreach (var (offset, length) in beyond)
        {
            var written = await S.WriteAsync(f.FileHandle, f.StateId, offset, new byte[length]).Bounded();
            Assert.True(written.Status == NfsStat4.FBig, $"WRITE at {offset:X} of {length}: {written.Status}");
        }
        Assert.Equal(10UL, Disk.Stat(path).Size);
        Assert.Equal(TenBytes, await File.ReadAllBytesAsync(path));
    }

    [Fact]
    public async Task Maxfilesize_is_what_the_filesystem_really_holds_a_write_ending_there_succeeds()
    {
        var (f, path) = await TenByteFileAsync();
        ulong max = (await S.GetAttrAsync(f.FileHandle, AttrBitmap.Of(FileAttr.MaxFileSize)).Bounded()).ValueOrThrow().MaxFileSize!.Value;

        var written = await S.WriteAsync(f.FileHandle, f.StateId, max - 1, "z"u8.ToArray()).Bounded(); // a sparse file of the largest size
        Assert.Equal(NfsStat4.Ok, written.Status);
        Assert.Equal(max, Disk.Stat(path).Size);

        var last = (await S.ReadAsync(f.FileHandle, f.StateId, max - 1, 10).Bounded()).ValueOrThrow();
        Assert.Equal("z"u8.ToArray(), last.Data.ToArray());
        Assert.True(last.Eof);
        Assert.True((await S.SetAttrAsync(f.FileHandle, new SetAttributes { Size = 0 }, f.StateId).Bounded()).IsOk);
    }
}
