using System.Globalization;
using Leasehold.Testing;

namespace Leasehold.Engine.KernelTests;

/// <summary>
/// The kernel half of a scenario: a temporary directory under /tmp, the probe processes acting in it, and
/// (optionally) a changed lease-break-time. Disposing kills every probe, restores the break time and deletes the
/// directory, whatever the test did.
/// </summary>
internal sealed class KernelScene : IAsyncDisposable
{
    private readonly List<ProbeProcess> _probes = [];
    private string? _savedBreakTime;
    private IDisposable? _breakTimeLock;

    public KernelScene()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("leasehold-kernel-").FullName;
        File = NewFile("file");
    }

    public string Directory { get; }

    /// <summary>A file with some content, which no process has open.</summary>
    public string File { get; }

    public string NewFile(string name)
    {
        string path = Path.Combine(Directory, name);
        System.IO.File.WriteAllText(path, "leasehold"); // written and closed before any lease is taken
        return path;
    }

    public async Task<ProbeProcess> StartAsync(string name)
    {
        var probe = await ProbeProcess.StartAsync(name);
        _probes.Add(probe);
        return probe;
    }

    public async Task<(ProbeProcess, ProbeProcess)> StartAsync(string first, string second)
    {
        var a = StartAsync(first);
        var b = StartAsync(second);
        return (await a, await b);
    }

    /// <summary>
    /// Sets /proc/sys/fs/lease-break-time (whole seconds; 0 means breaks never time out) until the scene is disposed.
    /// Only for tests marked <see cref="KernelLeaseBreakTimeFactAttribute"/>.
    /// </summary>
    public void SetLeaseBreakTime(int seconds)
    {
        _breakTimeLock ??= LeaseBreakTimeLock.Exclusive(); // other test processes' local-access tests depend on it
        _savedBreakTime ??= System.IO.File.ReadAllText(KernelLeaseSupport.LeaseBreakTimePath).Trim();
        System.IO.File.WriteAllText(KernelLeaseSupport.LeaseBreakTimePath, seconds.ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>The lines of /proc/locks about <paramref name="path"/>'s inode, e.g. "1: LEASE  BREAKING  UNLCK 4242 fe:00:1234 0 EOF".</summary>
    public static IReadOnlyList<string> LocksOn(string path)
    {
        ulong inode = Inode.Of(path);
        string marker = $":{inode} ";
        return [.. System.IO.File.ReadAllLines("/proc/locks").Where(l => l.Contains(marker, StringComparison.Ordinal))];
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            foreach (var probe in _probes)
                await probe.DisposeAsync();
        }
        finally
        {
            if (_savedBreakTime is not null)
                System.IO.File.WriteAllText(KernelLeaseSupport.LeaseBreakTimePath, _savedBreakTime);
            _breakTimeLock?.Dispose();
            System.IO.Directory.Delete(Directory, recursive: true);
        }
    }
}
