using Leasehold.Export;
using static Leasehold.Export.Tests.TreeSteps;
using Microsoft.Extensions.Logging.Abstractions;

namespace Leasehold.Export.Tests;

/// <summary>
/// A temporary directory under /tmp holding the export ("export"), its state directory ("state") and a place outside
/// the export ("outside"), plus a tree over it with a recording gate. Tests share it and work in their own
/// subdirectories (<see cref="NewDirectoryAsync"/>), so they never see each other's files.
/// </summary>
public sealed class ExportFixture : IDisposable
{
    public ExportFixture()
    {
        Base = Directory.CreateTempSubdirectory("leasehold-export-tests-").FullName;
        ExportPath = Path.Join(Base, "export");
        StatePath = Path.Join(Base, "state");
        OutsidePath = Path.Join(Base, "outside");
        Directory.CreateDirectory(ExportPath);
        Directory.CreateDirectory(OutsidePath);
        Tree = OpenTree(Gate);
    }

    public string Base { get; }

    public string ExportPath { get; }

    public string StatePath { get; }

    public string OutsidePath { get; }

    public RecordingGate Gate { get; } = new();

    public LocalDirectoryTree Tree { get; }

    public ExportOptions Options(Action<ExportOptions>? configure = null)
    {
        var options = new ExportOptions { Path = ExportPath, StateDirectory = StatePath };
        configure?.Invoke(options);
        return options;
    }

    /// <summary>Another tree on the same export (a restart, or other options); the caller disposes it.</summary>
    public LocalDirectoryTree OpenTree(IChangeGate? gate = null, Action<ExportOptions>? configure = null) =>
        new(Options(configure), gate ?? OpenGate.Instance, NullLogger.Instance);

    /// <summary>A fresh directory (mode Octal(777), owned by root) under the export root, for one test.</summary>
    public async Task<(FileHandle Handle, string Path)> NewDirectoryAsync(string? name = null)
    {
        name ??= "t-" + Guid.NewGuid().ToString("N");
        FsResult<FileHandle> made = await Tree.CreateDirectoryAsync(Caller.Root, Tree.RootHandle, name, Octal(777), ChangeContext.Anonymous, default);
        Assert.Equal(FsStatus.Ok, made.Status);
        return (made.Value, Path.Join(ExportPath, name));
    }

    public void Dispose()
    {
        Tree.Dispose();
        Directory.Delete(Base, recursive: true);
    }
}
