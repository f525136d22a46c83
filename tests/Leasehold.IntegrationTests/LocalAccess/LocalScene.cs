using System.Diagnostics;
using System.Globalization;
using Leasehold.Export.Tests.LocalAccess;
using Leasehold.Nfs4.Client;
using Leasehold.IntegrationTests.Delegations;
using Leasehold.Testing;

namespace Leasehold.IntegrationTests.LocalAccess;

/// <summary>Helpers of the local access tests: files, delegation holders, the kernel's lease lines and timing.</summary>
internal static class LocalScene
{
    /// <summary>How long a waiting local operation must stay parked to count as "waits" (docs/local-access-design.md §6).</summary>
    public static readonly TimeSpan StillWaiting = TimeSpan.FromMilliseconds(300);

    /// <summary>A new file holding "hello" (made over NFS by the root session, which holds no delegation); its path and inode.</summary>
    public static async Task<(FileHandle Root, string Name, FileHandle File, string Path, ulong Ino)> NewFileAsync(LocalAccessServerFixture fx, string prefix)
    {
        var (root, name, file) = await DelegationClient.NewFileAsync(fx, prefix);
        string path = fx.PathOf(name);
        return (root, name, file, path, Inode.Of(path));
    }

    /// <summary>Opens the file for <paramref name="access"/> and checks that the open got a delegation of <paramref name="expected"/> type.</summary>
    public static async Task<OpenedFile> HoldAsync(DelegationClient c, FileHandle root, string name, ShareAccess access, DelegationType expected)
    {
        var opened = (await c.Session.OpenAsync(root, name, access).Bounded()).ValueOrThrow();
        Assert.Equal(expected, opened.Delegation.Type);
        return opened;
    }

    public static async Task<bool> Finishes(Task task, TimeSpan within) => await Task.WhenAny(task, Task.Delay(within)) == task;

    /// <summary>The inodes of this process's LEASE (or DELEG) lines in /proc/locks, with their state and type ("ACTIVE READ").</summary>
    public static Dictionary<ulong, List<string>> OurLeases()
    {
        var found = new Dictionary<ulong, List<string>>();
        string pid = Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        foreach (string line in File.ReadAllLines("/proc/locks"))
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 6 || f[1] == "->" || (f[1] != "LEASE" && f[1] != "DELEG") || f[4] != pid)
                continue;
            ulong ino = ulong.Parse(f[5][(f[5].LastIndexOf(':') + 1)..], CultureInfo.InvariantCulture);
            if (!found.TryGetValue(ino, out var states))
                found[ino] = states = [];
            states.Add($"{f[2]} {f[3]}");
        }
        return found;
    }

    /// <summary>A <c>timedopen</c> reply's descriptor and the Stopwatch timestamp (CLOCK_MONOTONIC, shared by all processes) right after open(2) returned.</summary>
    public static (int Fd, long After) ParseTimedOpen(ProbeReply reply)
    {
        Assert.True(reply.Ok, reply.ToString());
        var v = reply.Value.Split(' ');
        return (int.Parse(v[0], CultureInfo.InvariantCulture), long.Parse(v[2], CultureInfo.InvariantCulture));
    }

    /// <summary>Stopwatch ticks to a TimeSpan (nanoseconds on Linux).</summary>
    public static TimeSpan Elapsed(long from, long to) => TimeSpan.FromSeconds((double)(to - from) / Stopwatch.Frequency);
}
