using System.Diagnostics;
using System.Net.Sockets;

namespace Leasehold.Cluster.Tests.Etcd;

/// <summary>
/// Three real etcd members (etcd-server 3.4 or later) on their own loopback addresses 127.A.B.1-3, ports 2379/2380,
/// with data directories under /dev/shm deleted at dispose. <see cref="Kill"/> is SIGKILL; <see cref="Restart"/> runs
/// the same command again (the data directory makes etcd ignore the --initial-* flags). Reusable by linking this file
/// into another test project.
/// </summary>
public sealed class EtcdClusterFixture : IAsyncDisposable
{
    /// <summary>Why etcd tests cannot run here, or null when they can.</summary>
    public static string? Unavailable { get; } = FindEtcd() is null ? "etcd-server is not installed (apt-get install etcd-server)" : null;

    private readonly Process?[] _members;
    private readonly string _data;
    private readonly string[] _hosts;
    private readonly string _token = "lh-" + Guid.NewGuid().ToString("N");

    public EtcdClusterFixture(int members = 3)
    {
        int a = Random.Shared.Next(1, 255), b = Random.Shared.Next(1, 255);
        _hosts = [.. Enumerable.Range(1, members).Select(i => $"127.{a}.{b}.{i}")];
        _members = new Process?[members];
        string root = Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath();
        _data = Path.Combine(root, "leasehold-etcd-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_data);
    }

    /// <summary>The client URLs, one per member, in member order.</summary>
    public IReadOnlyList<string> Endpoints => [.. _hosts.Select(h => $"http://{h}:2379")];

    public int Count => _members.Length;

    /// <summary>Starts every member and waits until each answers on its client port and a lease grant through all of them works.</summary>
    public async Task StartAsync()
    {
        for (int i = 0; i < _members.Length; i++)
            Launch(i);
        await WaitHealthyAsync(Enumerable.Range(0, _members.Length), TimeSpan.FromSeconds(30));
    }

    /// <summary>SIGKILLs member <paramref name="i"/> and waits for it to exit.</summary>
    public void Kill(int i)
    {
        var p = _members[i];
        if (p is null)
            return;
        try
        {
            p.Kill();
            p.WaitForExit(10_000);
        }
        catch (InvalidOperationException)
        {
        }
        p.Dispose();
        _members[i] = null;
    }

    /// <summary>SIGKILLs members 0 .. Count/2 (a majority): the survivors have no leader and answer nothing that needs one.</summary>
    public void KillMajority()
    {
        for (int i = 0; i <= _members.Length / 2; i++)
            Kill(i);
    }

    /// <summary>
    /// Starts member <paramref name="i"/> again (after <see cref="Kill"/>) and waits until every running member, it
    /// included, says it is healthy (part of a cluster with a leader).
    /// </summary>
    public async Task RestartAsync(int i)
    {
        Launch(i);
        await WaitHealthyAsync(Enumerable.Range(0, _members.Length).Where(k => _members[k] is not null), TimeSpan.FromSeconds(30));
    }

    private void Launch(int i)
    {
        string etcd = FindEtcd() ?? throw new InvalidOperationException(Unavailable);
        string cluster = string.Join(",", _hosts.Select((h, k) => $"m{k}=http://{h}:2380"));
        var start = new ProcessStartInfo(etcd)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in new[]
        {
            "--name", $"m{i}", "--data-dir", Path.Combine(_data, $"m{i}"),
            "--listen-client-urls", $"http://{_hosts[i]}:2379", "--advertise-client-urls", $"http://{_hosts[i]}:2379",
            "--listen-peer-urls", $"http://{_hosts[i]}:2380", "--initial-advertise-peer-urls", $"http://{_hosts[i]}:2380",
            "--initial-cluster", cluster, "--initial-cluster-state", "new", "--initial-cluster-token", _token,
            "--heartbeat-interval", "50", "--election-timeout", "500", "--logger", "zap", "--log-level", "error",
        })
        {
            start.ArgumentList.Add(arg);
        }
        var p = Process.Start(start) ?? throw new InvalidOperationException("etcd did not start");
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        _members[i] = p;
    }

    private async Task WaitHealthyAsync(IEnumerable<int> members, TimeSpan within)
    {
        var deadline = Stopwatch.StartNew();
        foreach (int i in members)
        {
            while (true)
            {
                if (_members[i] is { HasExited: true } dead)
                    throw new InvalidOperationException($"etcd member m{i} exited with {dead.ExitCode}");
                if (await AnswersAsync(_hosts[i]))
                    break;
                if (deadline.Elapsed > within)
                    throw new TimeoutException($"etcd member m{i} not healthy after {within}");
                await Task.Delay(50);
            }
        }
    }

    /// <summary>Whether the member's /health says it is part of a cluster with a leader.</summary>
    private static async Task<bool> AnswersAsync(string host)
    {
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(1) };
            string body = await http.GetStringAsync(new Uri($"http://{host}:2379/health"));
            return body.Contains("\"health\":\"true\"", StringComparison.Ordinal);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or SocketException)
        {
            return false;
        }
    }

    private static string? FindEtcd()
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, "etcd");
            if (File.Exists(candidate))
                return candidate;
        }
        return null;
    }

    public ValueTask DisposeAsync()
    {
        for (int i = 0; i < _members.Length; i++)
            Kill(i);
        try
        {
            Directory.Delete(_data, recursive: true);
        }
        catch (IOException)
        {
        }
        return ValueTask.CompletedTask;
    }
}

/// <summary>A test that needs etcd-server on PATH: skipped, with the reason, where it is not installed.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class EtcdFactAttribute : FactAttribute
{
    public EtcdFactAttribute()
    {
        if (EtcdClusterFixture.Unavailable is { } reason)
            Skip = reason;
    }
}
