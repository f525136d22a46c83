using Leasehold.Export;
using static Leasehold.Export.Tests.TreeSteps;

namespace Leasehold.Export.Tests;

/// <summary>
/// The space operations of NFSv4.2 on the local tree (IFileSpace): SEEK and READ_PLUS's segments over a file with
/// several holes, ALLOCATE and DEALLOCATE through the gate, IO_ADVISE, and the refusals. Holes are whole 4 KiB blocks
/// (ext4's block size on /tmp here), made by truncating a file longer and writing blocks into it.
/// </summary>
public sealed class FileSpaceTests(ExportFixture fixture) : IClassFixture<ExportFixture>
{
    private const int Block = 4096;
    private static readonly ChangeContext Context = new(1, 2, NonBlocking: true);

    private IFileSpace Space => fixture.Tree.Space;

    /// <summary>
    /// 16 blocks: data in blocks 0, 4 and 10 (bytes 'a', 'b', 'c'), holes in 1-3, 5-9 and 11-15; size 64 KiB.
    /// </summary>
    private async Task<FileHandle> SparseFileAsync(IExportedTree? tree = null)
    {
        tree ??= fixture.Tree;
        var (dir, _) = await fixture.NewDirectoryAsync();
        FileHandle file = await tree.CreateFileAsync(dir, "sparse", Octal(644));
        Assert.Equal(FsStatus.Ok, (await tree.SetAttributesAsync(Caller.Root, file, new SetAttributes(Size: 16 * Block), Context, default)).Status);
        foreach (var (block, fill) in new[] { (0, (byte)'a'), (4, (byte)'b'), (10, (byte)'c') })
        {
            var written = await tree.WriteAsync(Caller.Root, file, block * Block, Enumerable.Repeat(fill, Block).ToArray(), WriteStability.FileSync, Context, default);
            Assert.Equal(FsStatus.Ok, written.Status);
        }
        return file;
    }

    [Fact]
    public async Task Seek_finds_each_data_run_and_each_hole_of_a_file_with_several_holes()
    {
        FileHandle file = await SparseFileAsync();

        (long From, SeekContent What, long Expected)[] found =
        [
            (0, SeekContent.Data, 0),
            (0, SeekContent.Hole, 1 * Block),
            (100, SeekContent.Hole, 1 * Block),
            (1 * Block, SeekContent.Data, 4 * Block),
            (4 * Block, SeekContent.Hole, 5 * Block),
            (5 * Block, SeekContent.Data, 10 * Block),
            (6 * Block, SeekContent.Hole, 6 * Block),
            (10 * Block + 7, SeekContent.Data, 10 * Block + 7),
            (10 * Block, SeekContent.Hole, 11 * Block),
            (12 * Block, SeekContent.Hole, 12 * Block),
        ];
        foreach (var (from, what, expected) in found)
        {
            var seek = Space.Seek(Caller.Root, file, from, what);
            Assert.Equal((FsStatus.Ok, expected), (seek.Status, seek.Value));
        }
        // ENXIO: no data after the last data block, and nothing at all at or past the end.
        Assert.Equal(FsStatus.NoData, Space.Seek(Caller.Root, file, 11 * Block, SeekContent.Data).Status);
        Assert.Equal(FsStatus.NoData, Space.Seek(Caller.Root, file, 16 * Block, SeekContent.Hole).Status);
        Assert.Equal(FsStatus.NoData, Space.Seek(Caller.Root, file, 20 * Block, SeekContent.Data).Status);
        Assert.Equal(FsStatus.Invalid, Space.Seek(Caller.Root, file, -1, SeekContent.Data).Status);
    }

    [Fact]
    public async Task Segments_describe_data_and_holes_across_their_boundaries_with_the_data_bytes_in_place()
    {
        FileHandle file = await SparseFileAsync();
        var segments = new List<FileSegment>();
        var buffer = new byte[20_000];

        var read = Space.ReadSegments(Caller.Root, file, 2048, buffer, segments);

        Assert.Equal(FsStatus.Ok, read.Status);
        Assert.Equal((20_000, false), read.Value);
        FileSegment[] expected =
        [
            new(2048, 2048, IsHole: false),
            new(1 * Block, 3 * Block, IsHole: true),
            new(4 * Block, Block, IsHole: false),
            new(5 * Block, 2048 + 20_000 - 5 * Block, IsHole: true),
        ];
        Assert.Equal(expected, segments);
        Assert.All(buffer[..2048], b => Assert.Equal((byte)'a', b));
        Assert.All(buffer[(4 * Block - 2048)..(5 * Block - 2048)], b => Assert.Equal((byte)'b', b));
    }

    [Fact]
    public async Task Segments_stop_at_the_end_of_the_file_with_a_trailing_hole_and_end_of_file()
    {
        FileHandle file = await SparseFileAsync();
        var segments = new List<FileSegment>();
        var buffer = new byte[40_000];

        var read = Space.ReadSegments(Caller.Root, file, 10 * Block + 100, buffer, segments);

        Assert.Equal(FsStatus.Ok, read.Status);
        Assert.Equal((6 * Block - 100, true), read.Value);
        Assert.Equal([new FileSegment(10 * Block + 100, Block - 100, false), new FileSegment(11 * Block, 5 * Block, true)], segments);
        Assert.All(buffer[..(Block - 100)], b => Assert.Equal((byte)'c', b));

        // At or past the end: nothing, and end of file; the list is cleared first.
        read = Space.ReadSegments(Caller.Root, file, 16 * Block, buffer, segments);
        Assert.Equal((FsStatus.Ok, (0, true)), (read.Status, read.Value));
        Assert.Empty(segments);
    }

    [Fact]
    public async Task Deallocate_punches_a_hole_that_reads_as_zeros_and_keeps_the_size()
    {
        var (dir, _) = await fixture.NewDirectoryAsync();
        FileHandle file = await fixture.Tree.CreateFileAsync(dir, "f");
        await fixture.Tree.WriteAsync(Caller.Root, file, 0, Enumerable.Repeat((byte)'x', 3 * Block).ToArray(), WriteStability.FileSync, Context, default);
        ulong usedBefore = fixture.Tree.Attributes(file).SpaceUsed;
        fixture.Gate.Clear();

        // The range runs past the end of the file: fine, and the size stays.
        Assert.Equal(FsStatus.Ok, await Space.DeallocateAsync(Caller.Root, file, Block, 10 * Block, Context, default));

        var attributes = fixture.Tree.Attributes(file);
        Assert.Equal((ulong)(3 * Block), attributes.Size);
        Assert.Equal(usedBefore - (2 * Block), attributes.SpaceUsed);
        Assert.Equal(Block, Space.Seek(Caller.Root, file, 0, SeekContent.Hole).Value);
        var buffer = new byte[3 * Block];
        var read = fixture.Tree.Read(Caller.Root, file, 0, buffer);
        Assert.Equal((3 * Block, true), read.Value);
        Assert.All(buffer[..Block], b => Assert.Equal((byte)'x', b));
        Assert.All(buffer[Block..], b => Assert.Equal(0, b));
        Assert.Equal([(attributes.FileId, ChangeKind.SpaceChange)], fixture.Gate.Calls);
        Assert.Equal(0, fixture.Gate.Outstanding);
    }

    [Fact]
    public async Task Allocate_reserves_blocks_and_grows_the_file_and_never_shrinks_it()
    {
        var (dir, _) = await fixture.NewDirectoryAsync();
        FileHandle file = await fixture.Tree.CreateFileAsync(dir, "f");
        fixture.Gate.Clear();

        Assert.Equal(FsStatus.Ok, await Space.AllocateAsync(Caller.Root, file, Block, 2 * Block, Context, default));

        var attributes = fixture.Tree.Attributes(file);
        Assert.Equal((ulong)(3 * Block), attributes.Size);
        Assert.Equal((ulong)(2 * Block), attributes.SpaceUsed); // the blocks are reserved; block 0 stays a hole
        Assert.Equal(0, Space.Seek(Caller.Root, file, 0, SeekContent.Hole).Value);
        Assert.Equal([(attributes.FileId, ChangeKind.SpaceChange)], fixture.Gate.Calls);

        Assert.Equal(FsStatus.Ok, await Space.AllocateAsync(Caller.Root, file, 0, Block, Context, default));
        Assert.Equal((ulong)(3 * Block), fixture.Tree.Attributes(file).Size);
        var buffer = new byte[3 * Block];
        Assert.Equal((3 * Block, true), fixture.Tree.Read(Caller.Root, file, 0, buffer).Value);
        Assert.All(buffer, b => Assert.Equal(0, b));
    }

    [Fact]
    public async Task Ranges_past_the_limits_are_refused_before_the_gate_is_asked()
    {
        var (dir, _) = await fixture.NewDirectoryAsync();
        FileHandle file = await fixture.Tree.CreateFileAsync(dir, "f");
        fixture.Gate.Clear();

        Assert.Equal(FsStatus.Invalid, await Space.AllocateAsync(Caller.Root, file, long.MaxValue - 10, 11, Context, default));
        Assert.Equal(FsStatus.Invalid, await Space.DeallocateAsync(Caller.Root, file, 10, long.MaxValue, Context, default));
        Assert.Equal(FsStatus.Invalid, await Space.AllocateAsync(Caller.Root, file, 0, 0, Context, default));
        Assert.Equal(FsStatus.Invalid, await Space.AllocateAsync(Caller.Root, file, -1, 10, Context, default));
        Assert.True(fixture.Tree.MaxFileSize < long.MaxValue, "ext4's s_maxbytes is below 2^63-1");
        Assert.Equal(FsStatus.FileTooBig, await Space.AllocateAsync(Caller.Root, file, (long)fixture.Tree.MaxFileSize, 1, Context, default));
        Assert.Empty(fixture.Gate.Calls);

        // A hole punched past the largest file frees what lies below it: nothing here.
        Assert.Equal(FsStatus.Ok, await Space.DeallocateAsync(Caller.Root, file, (long)fixture.Tree.MaxFileSize - 10, 20, Context, default));
        Assert.Equal(0ul, fixture.Tree.Attributes(file).Size);
    }

    [Fact]
    public async Task Only_regular_files_and_callers_with_the_right_permission_get_an_answer()
    {
        var (dir, _) = await fixture.NewDirectoryAsync();
        FileHandle file = await fixture.Tree.CreateFileAsync(dir, "root-only", Octal(600));
        var link = await fixture.Tree.CreateSymlinkAsync(Caller.Root, dir, "l", "root-only"u8.ToArray(), Context, default);
        var segments = new List<FileSegment>();
        fixture.Gate.Clear();

        Assert.Equal(FsStatus.IsDirectory, await Space.AllocateAsync(Caller.Root, dir, 0, 1, Context, default));
        Assert.Equal(FsStatus.IsDirectory, Space.Seek(Caller.Root, dir, 0, SeekContent.Data).Status);
        Assert.Equal(FsStatus.WrongType, await Space.DeallocateAsync(Caller.Root, link.Value, 0, 1, Context, default));
        Assert.Equal(FsStatus.WrongType, Space.ReadSegments(Caller.Root, link.Value, 0, new byte[10], segments).Status);

        Assert.Equal(FsStatus.AccessDenied, await Space.AllocateAsync(User, file, 0, Block, Context, default));
        Assert.Equal(FsStatus.AccessDenied, await Space.DeallocateAsync(User, file, 0, Block, Context, default));
        Assert.Equal(FsStatus.AccessDenied, Space.Seek(User, file, 0, SeekContent.Data).Status);
        Assert.Equal(FsStatus.AccessDenied, Space.ReadSegments(User, file, 0, new byte[10], segments).Status);
        Assert.Equal(FsStatus.AccessDenied, Space.Advise(User, file, 0, 0, FileAdvice.WillNeed).Status);
        Assert.Empty(fixture.Gate.Calls);

        // The owner may, whatever the mode says (knfsd's owner override, as for WRITE).
        FileHandle owned = await fixture.Tree.CreateFileAsync(dir, "owned", Octal(400), User);
        Assert.Equal(FsStatus.Ok, await Space.AllocateAsync(User, owned, 0, Block, Context, default));
    }

    [Fact]
    public async Task A_refusing_gate_delays_the_change_and_nothing_changes()
    {
        var gate = new RecordingGate { Refusal = ChangeRefusal.RecallPending };
        using var tree = fixture.OpenTree(gate);
        var (dir, _) = await fixture.NewDirectoryAsync();
        FileHandle file = await fixture.Tree.CreateFileAsync(dir, "f");
        await fixture.Tree.WriteAsync(Caller.Root, file, 0, Enumerable.Repeat((byte)'x', 2 * Block).ToArray(), WriteStability.FileSync, Context, default);

        Assert.Equal(FsStatus.Delay, await tree.Space.DeallocateAsync(Caller.Root, file, 0, Block, Context, default));
        Assert.Equal(FsStatus.Delay, await tree.Space.AllocateAsync(Caller.Root, file, 0, 8 * Block, Context, default));

        Assert.Equal((ulong)(2 * Block), fixture.Tree.Attributes(file).Size);
        Assert.Equal(FsStatus.NoData, fixture.Tree.Space.Seek(Caller.Root, file, 2 * Block, SeekContent.Hole).Status);
        Assert.Equal(2 * Block, fixture.Tree.Space.Seek(Caller.Root, file, 0, SeekContent.Hole).Value); // no hole was punched
        Assert.Equal(2, gate.Calls.Count);
        Assert.All(gate.Calls, call => Assert.Equal(ChangeKind.SpaceChange, call.Kind));
    }

    [Fact]
    public async Task A_read_only_export_refuses_space_changes_but_seeks_and_reads_segments()
    {
        FileHandle file = await SparseFileAsync();
        using var tree = fixture.OpenTree(configure: o => o.ReadOnly = true);

        Assert.Equal(FsStatus.ReadOnly, await tree.Space.AllocateAsync(Caller.Root, file, 0, Block, Context, default));
        Assert.Equal(FsStatus.ReadOnly, await tree.Space.DeallocateAsync(Caller.Root, file, 0, Block, Context, default));
        Assert.Equal(4 * Block, tree.Space.Seek(Caller.Root, file, Block, SeekContent.Data).Value);
        var segments = new List<FileSegment>();
        Assert.Equal(FsStatus.Ok, tree.Space.ReadSegments(Caller.Root, file, 0, new byte[2 * Block], segments).Status);
        Assert.Equal([new FileSegment(0, Block, false), new FileSegment(Block, Block, true)], segments);
    }

    [Fact]
    public async Task Advise_answers_only_the_page_cache_hints_it_applied()
    {
        FileHandle file = await SparseFileAsync();

        Assert.Equal(FileAdvice.WillNeed, Space.Advise(Caller.Root, file, 0, 0, FileAdvice.WillNeed | FileAdvice.Sequential).Value);
        Assert.Equal(FileAdvice.DontNeed, Space.Advise(Caller.Root, file, Block, Block, FileAdvice.DontNeed).Value);
        // Per-descriptor hints reach no later READ, and contradicting hints cancel: nothing is claimed.
        Assert.Equal(FileAdvice.None, Space.Advise(Caller.Root, file, 0, 0, FileAdvice.Sequential | FileAdvice.Random | FileAdvice.NoReuse).Value);
        Assert.Equal(FileAdvice.None, Space.Advise(Caller.Root, file, 0, 0, FileAdvice.WillNeed | FileAdvice.DontNeed).Value);
        Assert.Equal(FsStatus.Invalid, Space.Advise(Caller.Root, file, -1, 0, FileAdvice.WillNeed).Status);
    }
}
