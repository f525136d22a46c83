using System.Text;
using Leasehold.Export.LocalAccess;
using Leasehold.Testing;
using static Leasehold.Export.Tests.TreeSteps;

namespace Leasehold.Export.Tests.LocalAccess;

/// <summary>
/// A guarded tree of its own over the shared export (with a recording sink and logger), and a directory of its own in
/// it. Files are made through this tree, so no other tree's cached descriptors sit beside its guards.
/// </summary>
internal sealed class GuardScene : IDisposable
{
    private GuardScene(ExportFixture fixture, LocalDirectoryTree tree, RecordingSink sink, RecordingLogger logger, FileHandle directory, string path)
    {
        Fixture = fixture;
        Sink = sink;
        Logger = logger;
        Tree = tree;
        Directory = directory;
        DirectoryPath = path;
    }

    public ExportFixture Fixture { get; }

    public LocalDirectoryTree Tree { get; }

    public RecordingSink Sink { get; }

    public RecordingLogger Logger { get; }

    public FileHandle Directory { get; }

    public string DirectoryPath { get; }

    public KernelLeases Leases => Tree.Leases ?? throw new InvalidOperationException($"Not guarded: {Tree.UnavailableReason}");

    public static async Task<GuardScene> StartAsync(ExportFixture fixture, Action<ExportOptions>? configure = null)
    {
        var (directory, path) = await fixture.NewDirectoryAsync();
        var logger = new RecordingLogger();
        var sink = new RecordingSink();
        var tree = new LocalDirectoryTree(fixture.Options(configure), OpenGate.Instance, logger, sink);
        return new GuardScene(fixture, tree, sink, logger, directory, path);
    }

    /// <summary>A new file with <paramref name="text"/>, made through the guarded tree: its handle, path and inode.</summary>
    public async Task<(FileHandle Handle, string Path, ulong Ino)> NewFileAsync(string text = "hello", string? name = null)
    {
        name ??= "f-" + Guid.NewGuid().ToString("N")[..8];
        FileHandle handle = await Tree.CreateFileAsync(Directory, name, Octal(666));
        if (text.Length > 0)
            await Tree.WriteTextAsync(handle, text);
        string path = Path.Join(DirectoryPath, name);
        return (handle, path, Inode.Of(path));
    }

    /// <summary>
    /// A guard that must be granted. Busy is retried for up to a second: F_SETLEASE counts open file descriptions, and a
    /// child another test forks (Process.Start) holds copies of every descriptor of this process until its exec closes
    /// them, so a descriptor our tree has just closed can keep the file open for write for that moment. A descriptor
    /// really left open stays open, and still fails here.
    /// </summary>
    public IDisposable GuardOk(FileHandle file, GuardMode mode)
    {
        GuardStatus status = GuardStatus.Busy;
        IDisposable? guard = null;
        for (int attempt = 0; attempt < 100 && status == GuardStatus.Busy; attempt++)
        {
            if (attempt > 0)
                Thread.Sleep(10);
            status = Tree.Guard(file, mode, out guard);
        }
        Assert.Equal(GuardStatus.Ok, status);
        return guard!;
    }

    public string Read(FileHandle file) => Tree.ReadText(file);

    public async Task WriteAsync(FileHandle file, string text, long offset = 0)
    {
        var written = await Tree.WriteAsync(Caller.Root, file, offset, Encoding.UTF8.GetBytes(text), WriteStability.Unstable, ChangeContext.Anonymous, default);
        Assert.Equal(FsStatus.Ok, written.Status);
    }

    public void Dispose() => Tree.Dispose();
}
