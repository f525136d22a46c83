namespace Leasehold.Recovery.Tests;

/// <summary>A fresh temporary state directory, removed afterwards.</summary>
public sealed class StateDirectory : IDisposable
{
    public StateDirectory() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Join(System.IO.Path.GetTempPath(), $"leasehold-recovery-{Guid.NewGuid():N}");

    public string Database => System.IO.Path.Join(Path, SqliteClientRecordStore.FileName);

    public void Dispose()
    {
        if (Directory.Exists(Path))
            Directory.Delete(Path, recursive: true);
    }
}
