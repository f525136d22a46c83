using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;
using System.Threading.Channels;

namespace Leasehold.Host.Tests;

/// <summary>What one run of the command left behind.</summary>
internal sealed record Outcome(int ExitCode, IReadOnlyList<string> Stdout, IReadOnlyList<string> Stderr)
{
    /// <summary>The one stderr line a refused start prints; fails the test when there are more or none.</summary>
    public string ErrorLine
    {
        get
        {
            Assert.True(Stderr.Count == 1, $"expected one stderr line, got {Stderr.Count}:\n{string.Join('\n', Stderr)}\nstdout:\n{string.Join('\n', Stdout)}");
            return Stderr[0];
        }
    }

    public override string ToString() =>
        $"exit {ExitCode}\nstderr:\n{string.Join('\n', Stderr)}\nstdout:\n{string.Join('\n', Stdout)}";
}

/// <summary>
/// Runs the real <c>leasehold</c> command as a user does, <c>dotnet leasehold.dll ARGS</c>, in a working directory
/// of the test's own, with no LEASEHOLD_* variables but those the test gives. Every wait is bounded.
/// </summary>
internal static partial class LeaseholdCommand
{
    /// <summary>How long one run may take. Generous: a cold `dotnet` start on a busy 2-core machine is slow.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    public static string Dll { get; } = Path.Combine(AppContext.BaseDirectory, "leasehold.dll");

    /// <summary>Runs to the end and returns the exit code and output.</summary>
    public static async Task<Outcome> RunAsync(string workingDirectory, IEnumerable<string> args,
        IReadOnlyDictionary<string, string>? environment = null, bool asNobody = false)
    {
        using var process = Start(workingDirectory, args, environment, asNobody);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(Timeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"leasehold {string.Join(' ', args)} did not end within {Timeout}; stdout so far:\n{await stdout}");
        }
        return new Outcome(process.ExitCode, Lines(await stdout), Lines(await stderr));
    }

    /// <summary>Starts a server and waits for its "Serving ... on ADDRESS" line; fails with its output if it ends first.</summary>
    public static async Task<RunningServer> ServeAsync(string workingDirectory, IEnumerable<string> args,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var process = Start(workingDirectory, args, environment, asNobody: false);
        var server = new RunningServer(process);
        try
        {
            await server.WaitForServingAsync();
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    private static Process Start(string workingDirectory, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment, bool asNobody)
    {
        var start = new ProcessStartInfo(asNobody ? "setpriv" : "dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        if (asNobody)
        {
            foreach (string a in (string[])["--reuid=65534", "--regid=65534", "--clear-groups", "dotnet"])
                start.ArgumentList.Add(a);
            start.Environment["HOME"] = Path.GetTempPath();
        }
        start.ArgumentList.Add(Dll);
        foreach (string a in args)
            start.ArgumentList.Add(a);
        foreach (string name in start.Environment.Keys.Where(k => k.StartsWith("LEASEHOLD_", StringComparison.OrdinalIgnoreCase)).ToList())
            start.Environment.Remove(name);
        if (environment is not null)
        {
            foreach (var (name, value) in environment)
                start.Environment[name] = value;
        }
        return Process.Start(start) ?? throw new InvalidOperationException("Could not start dotnet.");
    }

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToArray();

    /// <summary>The host's "Serving {path} over NFSv4.1 and 4.2 on {endpoint} (lease time {s} s, ...)" line.</summary>
    [GeneratedRegex(@"Serving (?<path>.+) over NFSv4\.1 and 4\.2 on (?<endpoint>\S+) \(lease time (?<lease>[0-9.]+) s, (?<access>[a-z-]+), [a-z ]+, (?<sync>sync|async) directory changes\)")]
    internal static partial Regex ServingLine();
}

/// <summary>A server started by <see cref="LeaseholdCommand.ServeAsync"/>; disposing kills it.</summary>
internal sealed class RunningServer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Channel<string> _stdout = Channel.CreateUnbounded<string>();
    private readonly List<string> _seen = [];
    private readonly Task<string> _stderr;

    public RunningServer(Process process)
    {
        _process = process;
        _ = Task.Run(async () =>
        {
            while (await process.StandardOutput.ReadLineAsync() is { } line)
                _stdout.Writer.TryWrite(line);
            _stdout.Writer.TryComplete();
        });
        _stderr = process.StandardError.ReadToEndAsync();
    }

    public string ExportPath { get; private set; } = "";

    public IPEndPoint EndPoint { get; private set; } = new(IPAddress.None, 0);

    public double LeaseSeconds { get; private set; }

    public string Access { get; private set; } = "";

    /// <summary>The server's process id.</summary>
    public int Pid => _process.Id;

    /// <summary>"sync" or "async": whether directory changes are durable when answered (Export:SyncDirectoryChanges).</summary>
    public string DirectoryChanges { get; private set; } = "";

    public IReadOnlyList<string> Stdout => _seen;

    public async Task WaitForServingAsync()
    {
        using var timeout = new CancellationTokenSource(LeaseholdCommand.Timeout);
        try
        {
            await foreach (string line in _stdout.Reader.ReadAllAsync(timeout.Token))
            {
                _seen.Add(line);
                var match = LeaseholdCommand.ServingLine().Match(line);
                if (match.Success)
                {
                    ExportPath = match.Groups["path"].Value;
                    EndPoint = IPEndPoint.Parse(match.Groups["endpoint"].Value);
                    LeaseSeconds = double.Parse(match.Groups["lease"].Value, System.Globalization.CultureInfo.InvariantCulture);
                    Access = match.Groups["access"].Value;
                    DirectoryChanges = match.Groups["sync"].Value;
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"the server did not say it was serving within {LeaseholdCommand.Timeout}:\n{string.Join('\n', _seen)}");
        }
        await _process.WaitForExitAsync();
        throw new InvalidOperationException($"the server ended (exit {_process.ExitCode}) before serving:\n{await _stderr}\n{string.Join('\n', _seen)}");
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
            _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}

/// <summary>A fresh directory under /tmp for one test (the working directory, exports, settings files); removed afterwards.</summary>
internal sealed class Scratch : IDisposable
{
    public Scratch()
    {
        Root = Path.Join(Path.GetTempPath(), $"leasehold-host-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Root);
        // Other users (the tests that run as nobody) must be able to enter it.
        File.SetUnixFileMode(Root, (UnixFileMode)0b111_101_101);
    }

    public string Root { get; }

    public string PathOf(string name) => Path.Join(Root, name);

    public string Write(string name, string text)
    {
        string path = PathOf(name);
        File.WriteAllText(path, text);
        return path;
    }

    public string MakeDirectory(string name)
    {
        string path = PathOf(name);
        System.IO.Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>A loopback address no other test (or other server on this machine) is likely to use: 127.x.y.z.</summary>
    public static IPAddress UnusedLoopback()
    {
        Span<byte> b = stackalloc byte[3];
        Random.Shared.NextBytes(b);
        return new IPAddress([127, (byte)(b[0] | 1), b[1], (byte)(b[2] | 1)]);
    }

    public void Dispose()
    {
        try
        {
            foreach (string d in System.IO.Directory.EnumerateDirectories(Root, "*", SearchOption.AllDirectories))
                File.SetUnixFileMode(d, (UnixFileMode)0b111_000_000);
            System.IO.Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
