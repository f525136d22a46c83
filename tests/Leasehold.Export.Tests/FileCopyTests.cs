using System.Diagnostics;
using Leasehold.Export;
using Leasehold.Export.Local;
using static Leasehold.Export.Tests.TreeSteps;

namespace Leasehold.Export.Tests;

/// <summary>COPY and CLONE inside the export (IFileSpace.CopyAsync, CloneAsync; RFC 7862 §15.2, §15.13).</summary>
public sealed class FileCopyTests(ExportFixture fixture) : IClassFixture<ExportFixture>
{
    private const int Chunk = FileCopy.ChunkBytes;
    private static readonly ChangeContext Context = new(1, 2, NonBlocking: true);

    private (LocalDirectoryTree Tree, RecordingGate Gate) GatedTree(Action<ExportOptions>? configure = null)
    {
        var gate = new RecordingGate();
        return (fixture.OpenTree(gate, configure), gate);
    }

    /// <summary>A file of <paramref name="length"/> pseudo-random bytes (seeded), written locally, and its handle.</summary>
    private static async Task<(FileHandle Handle, byte[] Data)> DataFileAsync(IExportedTree tree, FileHandle dir, string dirPath, string name, int length, int seed = 1)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        await File.WriteAllBytesAsync(Path.Join(dirPath, name), data);
        return (tree.LookupOk(dir, name), data);
    }

    [Fact]
    public async Task A_copy_of_several_chunks_copies_the_bytes_asks_the_gate_once_and_reports_each_chunk()
    {
        var (tree, gate) = GatedTree();
        using var _ = tree;
        var (dir, path) = await fixture.NewDirectoryAsync();
        int length = 2 * Chunk + 12345;
        var (source, data) = await DataFileAsync(tree, dir, path, "src", length);
        FileHandle target = await tree.CreateFileAsync(dir, "dst");
        gate.Clear();
        var progress = new List<long>();

        var copied = await tree.Space.CopyAsync(Caller.Root, source, 0, target, 0, length, WriteStability.Unstable, Context, progress.Add, default);

        Assert.Equal(FsStatus.Ok, copied.Status);
        Assert.Equal(new CopyOutcome(length, WriteStability.Unstable), copied.Value);
        Assert.Equal(data, await File.ReadAllBytesAsync(Path.Join(path, "dst")));
        Assert.Equal([0L, Chunk, 2L * Chunk, length], progress); // 0 when it starts, then after each chunk
        Assert.Equal([(tree.Attributes(target).FileId, ChangeKind.Write)], gate.Calls);
        Assert.Equal(0, gate.Outstanding);
    }

    [Fact]
    public async Task Offsets_are_honoured_count_0_runs_to_the_source_end_and_a_range_past_the_end_copies_what_there_is()
    {
        using var tree = fixture.OpenTree();
        var (dir, path) = await fixture.NewDirectoryAsync();
        var (source, data) = await DataFileAsync(tree, dir, path, "src", 1000);
        FileHandle target = await tree.CreateFileAsync(dir, "dst");

        var toEnd = await tree.Space.CopyAsync(Caller.Root, source, 100, target, 10, 0, WriteStability.Unstable, Context, null, default);
        Assert.Equal(900, toEnd.Value.Count);
        byte[] written = await File.ReadAllBytesAsync(Path.Join(path, "dst"));
        Assert.Equal(910, written.Length);
        Assert.Equal(new byte[10], written[..10]); // before the destination offset: a hole, zeros
        Assert.Equal(data[100..], written[10..]);

        var pastEnd = await tree.Space.CopyAsync(Caller.Root, source, 990, target, 0, 500, WriteStability.Unstable, Context, null, default);
        Assert.Equal(10, pastEnd.Value.Count);
        var beyond = await tree.Space.CopyAsync(Caller.Root, source, 5000, target, 0, 500, WriteStability.Unstable, Context, null, default);
        Assert.Equal(FsStatus.Ok, beyond.Status);
        Assert.Equal(0, beyond.Value.Count);
        Assert.Equal(data[990..], (await File.ReadAllBytesAsync(Path.Join(path, "dst")))[..10]);
    }

    [Fact]
    public async Task Within_one_file_overlapping_ranges_are_invalid_and_disjoint_ones_copy()
    {
        using var tree = fixture.OpenTree();
        var (dir, path) = await fixture.NewDirectoryAsync();
        var (file, data) = await DataFileAsync(tree, dir, path, "f", 4096);

        var overlapping = await tree.Space.CopyAsync(Caller.Root, file, 0, file, 100, 200, WriteStability.Unstable, Context, null, default);
        Assert.Equal(FsStatus.Invalid, overlapping.Status);
        var toEnd = await tree.Space.CopyAsync(Caller.Root, file, 0, file, 4000, 0, WriteStability.Unstable, Context, null, default);
        Assert.Equal(FsStatus.Invalid, toEnd.Status); // count 0 = 4096 bytes, which reach past 4000

        var disjoint = await tree.Space.CopyAsync(Caller.Root, file, 0, file, 4096, 4096, WriteStability.FileSync, Context, null, default);
        Assert.Equal(new CopyOutcome(4096, WriteStability.FileSync), disjoint.Value);
        byte[] twice = [.. data, .. data];
        Assert.Equal(twice, await File.ReadAllBytesAsync(Path.Join(path, "f")));
    }

    [Fact]
    public async Task A_cancellation_stops_the_copy_between_chunks_with_the_count_copied_so_far()
    {
        using var tree = fixture.OpenTree();
        var (dir, path) = await fixture.NewDirectoryAsync();
        var (source, data) = await DataFileAsync(tree, dir, path, "src", 3 * Chunk);
        FileHandle target = await tree.CreateFileAsync(dir, "dst");
        using var cancel = new CancellationTokenSource();

        var copied = await tree.Space.CopyAsync(Caller.Root, source, 0, target, 0, 0, WriteStability.Unstable, Context,
            done => { if (done >= Chunk) cancel.Cancel(); }, cancel.Token);

        Assert.Equal(FsStatus.Ok, copied.Status);
        Assert.Equal(Chunk, copied.Value.Count);
        Assert.Equal(data[..Chunk], await File.ReadAllBytesAsync(Path.Join(path, "dst")));
    }

    [Fact]
    public async Task The_source_needs_read_and_the_destination_write_permission()
    {
        using var tree = fixture.OpenTree();
        var (dir, path) = await fixture.NewDirectoryAsync();
        await DataFileAsync(tree, dir, path, "secret", 10);
        File.SetUnixFileMode(Path.Join(path, "secret"), UnixFileMode.UserRead | UnixFileMode.UserWrite); // 0600, root's
        FileHandle secret = tree.LookupOk(dir, "secret");
        FileHandle mine = await tree.CreateFileAsync(dir, "mine", Octal(644), User);
        FileHandle readable = await tree.CreateFileAsync(dir, "readable", Octal(644));

        var noRead = await tree.Space.CopyAsync(User, secret, 0, mine, 0, 0, WriteStability.Unstable, Context, null, default);
        var noWrite = await tree.Space.CopyAsync(User, mine, 0, readable, 0, 0, WriteStability.Unstable, Context, null, default);
        var allowed = await tree.Space.CopyAsync(User, readable, 0, mine, 0, 0, WriteStability.Unstable, Context, null, default);

        Assert.Equal(FsStatus.AccessDenied, noRead.Status);
        Assert.Equal(FsStatus.AccessDenied, noWrite.Status);
        Assert.Equal(FsStatus.Ok, allowed.Status);
    }

    [Fact]
    public async Task Directories_a_refused_gate_and_a_read_only_export_copy_nothing()
    {
        var (tree, gate) = GatedTree();
        using var _ = tree;
        var (dir, path) = await fixture.NewDirectoryAsync();
        var (source, _) = await DataFileAsync(tree, dir, path, "src", 100);
        FileHandle target = await tree.CreateFileAsync(dir, "dst");

        var fromDirectory = await tree.Space.CopyAsync(Caller.Root, dir, 0, target, 0, 0, WriteStability.Unstable, Context, null, default);
        var toDirectory = await tree.Space.CopyAsync(Caller.Root, source, 0, dir, 0, 0, WriteStability.Unstable, Context, null, default);
        gate.Refusal = ChangeRefusal.RecallPending;
        var refused = await tree.Space.CopyAsync(Caller.Root, source, 0, target, 0, 0, WriteStability.Unstable, Context, null, default);
        using var readOnly = fixture.OpenTree(configure: o => o.ReadOnly = true);
        var onReadOnly = await readOnly.Space.CopyAsync(Caller.Root, source, 0, target, 0, 0, WriteStability.Unstable, Context, null, default);

        Assert.Equal(FsStatus.IsDirectory, fromDirectory.Status);
        Assert.Equal(FsStatus.IsDirectory, toDirectory.Status);
        Assert.Equal(FsStatus.Delay, refused.Status);
        Assert.Equal(FsStatus.ReadOnly, onReadOnly.Status);
        Assert.Equal(0, new FileInfo(Path.Join(path, "dst")).Length);
    }

    [Fact]
    public async Task Clone_block_size_follows_the_filesystem_type_and_a_filesystem_without_clones_answers_NotSupported()
    {
        using var tree = fixture.OpenTree();
        var (dir, path) = await fixture.NewDirectoryAsync();
        var (source, _) = await DataFileAsync(tree, dir, path, "src", 8192);
        FileHandle target = await tree.CreateFileAsync(dir, "dst");
        bool cloningType = FileSystemType(fixture.ExportPath) is 0x58465342 or 0x9123683E or 0x7461636F;
        if (cloningType)
            return; // covered by Clone_on_an_xfs_image_shares_the_blocks; this test is about the others (ext4, tmpfs)

        Assert.Equal(0u, tree.Space.CloneBlockSize);
        Assert.Equal(FsStatus.NotSupported, await tree.Space.CloneAsync(Caller.Root, source, 0, target, 0, 4096, Context, default));
        Assert.Equal(0, new FileInfo(Path.Join(path, "dst")).Length);
    }

    [XfsFact]
    public async Task Clone_on_an_xfs_image_shares_the_blocks_checks_alignment_and_asks_the_gate_for_a_space_change()
    {
        using var image = XfsImage.Mount();
        var gate = new RecordingGate();
        string state = Path.Join(fixture.Base, "xfs-state-" + Guid.NewGuid().ToString("N"));
        using var tree = new LocalDirectoryTree(new ExportOptions { Path = image.MountPoint, StateDirectory = state }, gate, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        var data = new byte[3 * 4096 + 100];
        new Random(7).NextBytes(data);
        await File.WriteAllBytesAsync(Path.Join(image.MountPoint, "src"), data);
        FileHandle source = tree.LookupOk(tree.RootHandle, "src");
        FileHandle target = await tree.CreateFileAsync(tree.RootHandle, "dst");
        uint block = tree.Space.CloneBlockSize;
        Assert.Equal(4096u, block);
        gate.Clear();

        Assert.Equal(FsStatus.Invalid, await tree.Space.CloneAsync(Caller.Root, source, 100, target, 0, 4096, Context, default));
        Assert.Equal(FsStatus.Invalid, await tree.Space.CloneAsync(Caller.Root, source, 0, target, 0, 100, Context, default));
        Assert.Equal(FsStatus.Ok, await tree.Space.CloneAsync(Caller.Root, source, 0, target, 0, 0, Context, default)); // to the end, unaligned tail included

        Assert.Equal(data, await File.ReadAllBytesAsync(Path.Join(image.MountPoint, "dst")));
        Assert.Equal([(tree.Attributes(target).FileId, ChangeKind.SpaceChange)], gate.Calls);
        // copy_file_range on XFS shares blocks too (remap): a 1 MiB copy uses no new blocks.
        var big = new byte[1 << 20];
        new Random(8).NextBytes(big);
        await File.WriteAllBytesAsync(Path.Join(image.MountPoint, "big"), big);
        using (var written = new FileStream(Path.Join(image.MountPoint, "big"), FileMode.Open))
            written.Flush(flushToDisk: true); // its delayed allocation done, so that the count below sees only the copy
        FileHandle bigHandle = tree.LookupOk(tree.RootHandle, "big");
        FileHandle bigCopy = await tree.CreateFileAsync(tree.RootHandle, "big-copy");
        ulong freeBefore = FreeBlocks(image.MountPoint);
        var copied = await tree.Space.CopyAsync(Caller.Root, bigHandle, 0, bigCopy, 0, 0, WriteStability.FileSync, Context, null, default);
        Assert.Equal(1 << 20, copied.Value.Count);
        ulong used = freeBefore - FreeBlocks(image.MountPoint);
        Assert.True(used < 16, $"a reflinked copy takes (almost) no new blocks; it took {used} of 4 KiB for 256 of data");
        Assert.Equal(big, await File.ReadAllBytesAsync(Path.Join(image.MountPoint, "big-copy")));
    }

    internal static string? XfsUnavailable => XfsImage.Unavailable;

    private static long FileSystemType(string path) => StatFs(path).Type;

    private static ulong FreeBlocks(string path) => StatFs(path).FreeBlocks;

    private static Native.StatFs StatFs(string path)
    {
        Assert.Equal(0, Native.LibC.statfs_path(path, out var fs));
        return fs;
    }

    /// <summary>A 300 MiB XFS image (reflink on) mounted on a loop device under /tmp, for the clone tests (<see cref="XfsFactAttribute"/>).</summary>
    private sealed class XfsImage : IDisposable
    {
        private readonly string _dir;

        private XfsImage(string dir, string mountPoint)
        {
            _dir = dir;
            MountPoint = mountPoint;
        }

        public string MountPoint { get; }

        /// <summary>Why no image can be made here (not root, no mkfs.xfs, no loop devices), or null.</summary>
        public static string? Unavailable { get; } =
            !Environment.IsPrivilegedProcess ? "needs root to mount an XFS image"
            : MkfsXfs is null ? "mkfs.xfs is missing (Debian: apt-get install xfsprogs)"
            : !File.Exists("/dev/loop-control") ? "no loop devices (/dev/loop-control)"
            : null;

        private static string? MkfsXfs => Array.Find(["/usr/sbin/mkfs.xfs", "/sbin/mkfs.xfs"], File.Exists);

        public static XfsImage Mount()
        {
            string dir = Directory.CreateTempSubdirectory("leasehold-xfs-").FullName;
            string image = Path.Join(dir, "image"), mountPoint = Path.Join(dir, "mnt");
            Directory.CreateDirectory(mountPoint);
            using (var f = File.Create(image))
                f.SetLength(300L << 20);
            Run(MkfsXfs!, $"-q -m reflink=1 {image}");
            Run("mount", $"-o loop {image} {mountPoint}");
            return new XfsImage(dir, mountPoint);
        }

        public void Dispose()
        {
            Run("umount", MountPoint);
            Directory.Delete(_dir, recursive: true);
        }

        private static void Run(string file, string arguments)
        {
            using var process = Process.Start(new ProcessStartInfo(file, arguments) { RedirectStandardError = true, RedirectStandardOutput = true })!;
            string error = process.StandardError.ReadToEnd();
            process.WaitForExit();
            Assert.True(process.ExitCode == 0, $"{file} {arguments}: {error}");
        }
    }
}

/// <summary>A test that needs an XFS image on a loop device: skipped, with the reason, where none can be made.</summary>
public sealed class XfsFactAttribute : FactAttribute
{
    public XfsFactAttribute()
    {
        if (FileCopyTests.XfsUnavailable is { } reason)
            Skip = reason;
    }
}
