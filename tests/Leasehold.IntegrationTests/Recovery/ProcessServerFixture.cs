using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;
using Leasehold.Nfs4.Client;
using Leasehold.Nfs4.Client.Rpc;
using Leasehold.Rpc.Messages;

namespace Leasehold.IntegrationTests.Recovery;

/// <summary>
/// The real <c>leasehold serve</c> as a child process, so it can die as a crash kills it: SIGKILL, with no stop, no
/// finally and no flush of its own, then a new process on the same export and state directories.
/// </summary>
/// <remarks>
/// <para>
/// The child is <c>dotnet leasehold.dll serve EXPORT --listen 127.0.0.1:0 --lease-time LEASE</c>: the Host project's
/// build output, which this project's reference to it copies next to the tests (as the lease probe's). The state
/// directory and <see cref="Configure"/>'s settings go in as LEASEHOLD_* environment variables, none inherited from
/// the test run; the working directory is <see cref="Root"/>, so no ./leasehold.json is read. The kernel picks the
/// port at every start, read from the host's "Serving ... on ADDRESS" line (event 5001): <see cref="EndPoint"/>
/// changes at each <see cref="StartAsync"/>, and clients connect anew after a restart (as they must: the old
/// sessions and client ids belong to the dead instance).
/// </para>
/// <para>
/// Every start, stop and kill appends to <see cref="LogPath"/> (the server's stdout and stderr, the latter prefixed
/// "stderr: "); failures quote its last lines, and <see cref="Log"/> gives all of it for a test's output. Every wait
/// is bounded: <see cref="StartTimeout"/> for a start, <see cref="ExitTimeout"/> for an exit; nothing sleeps.
/// </para>
/// <para>
/// Use one per test (a field of the test class, started in its InitializeAsync and disposed in its DisposeAsync), so
/// no client records, grace period or files carry over from another test; it works as an IClassFixture too. Like
/// <see cref="ServerFixture"/>, when the machine cannot guard delegations against local processes and the settings do
/// not choose Nfs4:Delegations, the server runs with ExclusiveExport so that it grants delegations; the tests must then
/// leave the export's files alone on disk while the server runs.
/// </para>
/// </remarks>
public partial class ProcessServerFixture : IAsyncLifetime
{
    /// <summary>How long a start may take to say it serves. Generous: a cold `dotnet` start on a busy 2-core machine is slow.</summary>
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How long the process may take to exit after SIGKILL or SIGTERM. Above the clean stop's own limit (the host's 10 s
    /// ShutdownTimeout plus the 5 s System.CommandLine adds), so a slow stop is told apart from a hung one.
    /// </summary>
    public static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(30);

    private const int SigTerm = 15;
    private const string NoGuardLine = "No delegations: local access is not guarded";

    private readonly StringBuilder _log = new();
    private readonly StreamWriter _logFile;
    private ServerProcess? _running;
    private bool _logClosed;
    private bool _exclusiveExport; // the machine cannot guard delegations: found at the first start, kept for the others
    private readonly bool _ownsRoot;

    public ProcessServerFixture()
        : this(Path.Join(Path.GetTempPath(), $"leasehold-crash-{Guid.NewGuid():N}"), name: null)
    {
    }

    /// <summary>
    /// A server on <c>ROOT/export</c>, which other servers may share (a cluster's nodes): with a <paramref name="name"/>,
    /// its state directory is <c>ROOT/state-NAME</c> and its log <c>ROOT/NAME.log</c>, and <see cref="DisposeAsync"/>
    /// leaves <paramref name="root"/> to its owner; without one, it is the single server of the default constructor.
    /// </summary>
    protected ProcessServerFixture(string root, string? name)
    {
        _ownsRoot = name is null;
        Root = root;
        ExportPath = Path.Join(Root, "export");
        StatePath = Path.Join(Root, name is null ? "state" : $"state-{name}");
        LogPath = Path.Join(Root, name is null ? "leasehold.log" : $"{name}.log");
        Directory.CreateDirectory(ExportPath);
        Directory.CreateDirectory(StatePath);
        _logFile = new StreamWriter(LogPath, append: true) { AutoFlush = true };
    }

    /// <summary>The temporary directory holding the export, the state directory and the log; deleted by <see cref="DisposeAsync"/>.</summary>
    public string Root { get; }

    /// <summary>The exported directory on disk (PUTROOTFH is this directory).</summary>
    public string ExportPath { get; }

    /// <summary>The state directory (Export:StateDirectory), the same for every start.</summary>
    public string StatePath { get; }

    /// <summary>The server's output, every start of it.</summary>
    public string LogPath { get; }

    /// <summary>Where the running server listens; a new port at every <see cref="StartAsync"/>.</summary>
    public IPEndPoint EndPoint { get; private set; } = new(IPAddress.Loopback, 0);

    /// <summary>The running server's process id; null when none runs.</summary>
    public int? Pid => _running?.Process.Id;

    /// <summary>
    /// The lease (--lease-time) every start runs with. 4 s: short, so that a grace period of one lease ends quickly,
    /// yet long enough that a client never loses its lease between two operations of a test.
    /// </summary>
    public virtual TimeSpan LeaseTime => TimeSpan.FromSeconds(4);

    /// <summary>Everything in <see cref="LogPath"/> so far, for a test's output.</summary>
    public string Log
    {
        get
        {
            lock (_log)
                return _log.ToString();
        }
    }

    /// <summary>
    /// Extra settings for every start, by configuration key ("Nfs4:Delegations" = "Off"); passed as LEASEHOLD_*
    /// environment variables. Export:StateDirectory is already set to <see cref="StatePath"/>.
    /// </summary>
    protected virtual void Configure(IDictionary<string, string> settings)
    {
    }

    /// <summary>Options appended to the <c>serve</c> command line of every start (a cluster node's --cluster and --node).</summary>
    protected virtual IEnumerable<string> ExtraArguments => [];

    /// <summary>Starts the server (xunit calls this for a class fixture; a test class that owns one calls it from its own).</summary>
    public Task InitializeAsync() => StartAsync();

    /// <summary>
    /// Starts a server process on <see cref="ExportPath"/> and <see cref="StatePath"/> and returns once it serves (its
    /// 5001 line), with <see cref="EndPoint"/> set. Throws InvalidOperationException if one is already running or the
    /// process exits first (with its exit code and last lines), TimeoutException (after killing it) past
    /// <see cref="StartTimeout"/>.
    /// </summary>
    public async Task StartAsync()
    {
        if (_running is not null)
            throw new InvalidOperationException($"The server already runs (pid {_running.Process.Id}); kill or stop it first.");
        var settings = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase) { ["Export:StateDirectory"] = StatePath };
        Configure(settings);
        bool policyChosen = settings.ContainsKey("Nfs4:Delegations");
        if (!policyChosen && _exclusiveExport)
            settings["Nfs4:Delegations"] = "ExclusiveExport";
        var server = await LaunchAsync(settings).ConfigureAwait(false);
        if (!policyChosen && !_exclusiveExport && server.Unguarded)
        {
            // See the remarks: the default policy would grant no delegation on this machine.
            _exclusiveExport = true;
            server.Process.Kill();
            await WaitForExitAsync(server, "kill").ConfigureAwait(false);
            settings["Nfs4:Delegations"] = "ExclusiveExport";
            server = await LaunchAsync(settings).ConfigureAwait(false);
        }
        _running = server;
    }

    /// <summary>
    /// Kills the server with SIGKILL (nothing of it runs afterwards: no stop, no dispose, no flush) and waits until the
    /// process has exited and its output is in the log. Throws InvalidOperationException when no server runs, or when
    /// it had already exited by itself (a crash the test did not ask for).
    /// </summary>
    public async Task KillAsync()
    {
        var server = await RunningAsync("kill").ConfigureAwait(false);
        server.Process.Kill(); // SIGKILL on Unix
        await WaitForExitAsync(server, "SIGKILL").ConfigureAwait(false);
    }

    /// <summary>
    /// Stops the server cleanly with SIGTERM, as an init system does, and returns its exit code once it has exited and
    /// its output is in the log (0 for a clean stop). Throws InvalidOperationException when no server runs or it had
    /// already exited, TimeoutException (after killing it) when it is still running after <see cref="ExitTimeout"/>.
    /// </summary>
    public async Task<int> StopAsync()
    {
        var server = await RunningAsync("stop").ConfigureAwait(false);
        if (Kill(server.Process.Id, SigTerm) != 0)
            throw new IOException($"kill({server.Process.Id}, SIGTERM) failed: errno {Marshal.GetLastPInvokeError()}");
        return await WaitForExitAsync(server, "SIGTERM").ConfigureAwait(false);
    }

    /// <summary>A new session of a new client with the running server (a fresh random co_ownerid unless the options name one).</summary>
    public Task<Nfs4Session> ConnectAsync(RpcCredentials? credentials = null, Nfs4SessionOptions? options = null) =>
        Nfs4Session.ConnectAsync(EndPoint, credentials ?? RpcAuth.Root, options).WaitAsync(Waits.Timeout);

    /// <summary>Kills the server if it runs and deletes <see cref="Root"/> (export, state and log) if it is this server's own.</summary>
    public async Task DisposeAsync()
    {
        try
        {
            if (_running is { } server)
            {
                if (!server.Process.HasExited)
                    server.Process.Kill();
                await WaitForExitAsync(server, "dispose").ConfigureAwait(false);
            }
        }
        finally
        {
            lock (_log)
            {
                _logClosed = true; // a pump still running after a failed wait must not write to a closed file
                _logFile.Dispose();
            }
            if (_ownsRoot && Directory.Exists(Root))
                Directory.Delete(Root, recursive: true);
        }
    }

    private async Task<ServerProcess> RunningAsync(string action)
    {
        var server = _running ?? throw new InvalidOperationException($"Cannot {action}: no server runs.");
        if (server.Process.HasExited)
        {
            int code = await WaitForExitAsync(server, "exit").ConfigureAwait(false);
            throw new InvalidOperationException($"Cannot {action}: the server (pid {server.Pid}) had already exited with code {code}.\n{Tail()}");
        }
        return server;
    }

    private async Task<ServerProcess> LaunchAsync(Dictionary<string, string> settings)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = Root,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "leasehold.dll"));
        foreach (string a in (string[])["serve", ExportPath, "--listen", "127.0.0.1:0", "--lease-time", LeaseTime.ToString("c", CultureInfo.InvariantCulture), .. ExtraArguments])
            start.ArgumentList.Add(a);
        foreach (string name in start.Environment.Keys.Where(k => k.StartsWith("LEASEHOLD_", StringComparison.OrdinalIgnoreCase)).ToList())
            start.Environment.Remove(name);
        foreach (var (key, value) in settings)
            start.Environment["LEASEHOLD_" + key.Replace(":", "__", StringComparison.Ordinal)] = value;

        Append($"=== {DateTime.UtcNow:HH:mm:ss.fff} start: dotnet {string.Join(' ', start.ArgumentList)} ({string.Join(", ", settings.Select(s => $"{s.Key}={s.Value}"))})");
        var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start dotnet.");
        var server = new ServerProcess(process);
        server.Output = Task.Run(() => PumpAsync(server, process.StandardOutput, ""));
        server.Errors = Task.Run(() => PumpAsync(server, process.StandardError, "stderr: "));

        var exited = process.WaitForExitAsync();
        try
        {
            var first = await Task.WhenAny(server.Serving.Task, exited).WaitAsync(StartTimeout).ConfigureAwait(false);
            if (first == server.Serving.Task)
            {
                EndPoint = await server.Serving.Task.ConfigureAwait(false);
                return server;
            }
        }
        catch (TimeoutException)
        {
            process.Kill();
            await WaitForExitAsync(server, "start timeout").ConfigureAwait(false);
            throw new TimeoutException($"The server (pid {server.Pid}) did not say it was serving within {StartTimeout}; killed.\n{Tail()}");
        }
        await WaitForExitAsync(server, "exit").ConfigureAwait(false);
        throw new InvalidOperationException($"The server (pid {server.Pid}) exited with code {server.ExitCode} before serving.\n{Tail()}");
    }

    /// <summary>Waits (bounded) until the process has exited and both output pumps have ended; forgets it; returns its exit code.</summary>
    private async Task<int> WaitForExitAsync(ServerProcess server, string why)
    {
        if (_running == server)
            _running = null;
        try
        {
            await server.Process.WaitForExitAsync().WaitAsync(ExitTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            server.Process.Kill();
            await server.Process.WaitForExitAsync().WaitAsync(ExitTimeout).ConfigureAwait(false);
            throw new TimeoutException($"The server (pid {server.Pid}) was still running {ExitTimeout} after {why}; killed.\n{Tail()}");
        }
        await Task.WhenAll(server.Output, server.Errors).WaitAsync(ExitTimeout).ConfigureAwait(false);
        server.ExitCode = server.Process.ExitCode;
        Append($"=== {DateTime.UtcNow:HH:mm:ss.fff} pid {server.Pid} exited with code {server.ExitCode} ({why})");
        server.Process.Dispose();
        return server.ExitCode;
    }

    private async Task PumpAsync(ServerProcess server, StreamReader reader, string prefix)
    {
        while (await reader.ReadLineAsync().ConfigureAwait(false) is { } line)
        {
            Append(prefix + line);
            if (prefix.Length != 0 || server.Serving.Task.IsCompleted)
                continue;
            if (line.Contains(NoGuardLine, StringComparison.Ordinal))
                server.Unguarded = true; // logged before the 5001 line, by the same start
            var serving = ServingLine().Match(line);
            if (serving.Success)
                server.Serving.TrySetResult(IPEndPoint.Parse(serving.Groups["endpoint"].Value));
        }
    }

    private void Append(string line)
    {
        lock (_log)
        {
            _log.AppendLine(line);
            if (!_logClosed)
                _logFile.WriteLine(line);
        }
    }

    /// <summary>The last lines of the log, for failure messages.</summary>
    private string Tail(int lines = 60)
    {
        var all = Log.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        return $"Last lines of {LogPath}:\n{string.Join('\n', all.TakeLast(lines))}";
    }

    /// <summary>The host's "Serving {path} over NFSv4.1 and 4.2 on {endpoint} (lease time {s} s, ...)" line (event 5001).</summary>
    [GeneratedRegex(@"Serving .+ over NFSv4\.1 and 4\.2 on (?<endpoint>\S+) \(lease time ")]
    private static partial Regex ServingLine();

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    /// <summary>One started process and what its output has told so far.</summary>
    private sealed class ServerProcess(Process process)
    {
        public Process Process { get; } = process;

        /// <summary>Kept apart from <see cref="Process"/>, which is disposed once the process has exited.</summary>
        public int Pid { get; } = process.Id;

        public TaskCompletionSource<IPEndPoint> Serving { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>The start said it grants no delegations for want of a guard (event 5005).</summary>
        public bool Unguarded { get; set; }

        public Task Output { get; set; } = Task.CompletedTask;

        public Task Errors { get; set; } = Task.CompletedTask;

        public int ExitCode { get; set; }
    }
}
