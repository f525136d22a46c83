using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Threading.Channels;
using Leasehold.Engine;

namespace Leasehold.Testing;

/// <summary>A lease type as fcntl(2) names it: F_RDLCK, F_WRLCK, F_UNLCK.</summary>
public enum KernelLease
{
    Read,
    Write,
    Unlock,
}

/// <summary>One reply from the probe: <c>ok [VALUE]</c> or <c>err ERRNO NAME</c>.</summary>
public sealed record ProbeReply(bool Ok, string Value, int Errno)
{
    public const int EAGAIN = 11; // = EWOULDBLOCK on Linux

    public static ProbeReply Parse(string line)
    {
        var parts = line.Split(' ', 3);
        return parts[0] switch
        {
            "ok" => new ProbeReply(true, parts.Length > 1 ? string.Join(' ', parts[1..]) : "", 0),
            "err" => new ProbeReply(false, line, int.Parse(parts[1], CultureInfo.InvariantCulture)),
            _ => throw new InvalidOperationException($"Not a probe reply: '{line}'."),
        };
    }

    public bool WouldBlock => !Ok && Errno == EAGAIN;

    public override string ToString() => Ok ? $"ok {Value}".TrimEnd() : Value;
}

/// <summary>
/// One child process running Leasehold.KernelLeaseProbe (the test project must reference it, so that its dll sits next
/// to the tests'): one kernel process, so its descriptors are open file descriptions of their own, its leases are
/// signalled to it alone, and fanotify sees it as a local process other than the server. Every wait on it is bounded.
/// Protocol: a command a line on stdin; replies <c>ok [VALUE]</c> or <c>err ERRNO NAME</c>; unsolicited lines
/// <c>event sigio</c> and <c>event done TAG REPLY</c>.
/// </summary>
public sealed class ProbeProcess : IAsyncDisposable
{
    /// <summary>How long any single reply may take. Generous: a cold `dotnet` start on a busy machine is slow.</summary>
    public static readonly TimeSpan ReplyTimeout = TimeSpan.FromSeconds(20);

    private readonly Process _process;
    private readonly Channel<string> _replies = Channel.CreateUnbounded<string>();
    private readonly ConcurrentDictionary<string, TaskCompletionSource<ProbeReply>> _pending = new();
    private readonly StringBuilder _stderr = new();
    private readonly Task _reader;
    private readonly SemaphoreSlim _oneCommandAtATime = new(1, 1);
    private int _sigios;
    private TaskCompletionSource _sigioArrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _nextTag;

    /// <summary>Held shared while the probe lives, when asked for at start (see <see cref="LeaseBreakTimeLock"/>).</summary>
    private IDisposable? _breakTimeLock;

    private ProbeProcess(string name, Process process)
    {
        Name = name;
        _process = process;
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (_stderr)
                    _stderr.AppendLine(e.Data);
            }
        };
        _process.BeginErrorReadLine();
        _reader = Task.Run(ReadLoopAsync);
    }

    public string Name { get; }

    public int Pid { get; private set; }

    /// <summary>SIGIOs the probe has reported so far: lease breaks the kernel signalled to it.</summary>
    public int Sigios => Volatile.Read(ref _sigios);

    /// <summary>
    /// Starts a probe and waits for its <c>ready PID</c>. With <paramref name="holdLeaseBreakTimeShared"/> the probe
    /// holds <see cref="LeaseBreakTimeLock"/> shared until disposed: for tests whose probe waits in the kernel for a
    /// lease break and so depends on /proc/sys/fs/lease-break-time, which kernel tests change (holding it exclusively).
    /// </summary>
    public static async Task<ProbeProcess> StartAsync(string name = "probe", bool holdLeaseBreakTimeShared = false)
    {
        var held = holdLeaseBreakTimeShared ? await LeaseBreakTimeLock.SharedAsync().ConfigureAwait(false) : null;
        try
        {
            var probe = await StartProcessAsync(name).ConfigureAwait(false);
            probe._breakTimeLock = held;
            return probe;
        }
        catch
        {
            held?.Dispose();
            throw;
        }
    }

    private static async Task<ProbeProcess> StartProcessAsync(string name)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "Leasehold.KernelLeaseProbe.dll");
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(dll);
        var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start the lease probe.");
        var probe = new ProbeProcess(name, process);
        string ready = await probe.NextReplyLineAsync().ConfigureAwait(false);
        if (!ready.StartsWith("ready ", StringComparison.Ordinal))
        {
            await probe.DisposeAsync().ConfigureAwait(false);
            throw new InvalidOperationException($"{name}: expected 'ready PID', got '{ready}'.");
        }
        probe.Pid = int.Parse(ready[6..], CultureInfo.InvariantCulture);
        return probe;
    }

    private async Task ReadLoopAsync()
    {
        while (await _process.StandardOutput.ReadLineAsync().ConfigureAwait(false) is { } line)
        {
            if (line == "event sigio")
            {
                Interlocked.Increment(ref _sigios);
                Interlocked.Exchange(ref _sigioArrived, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
            }
            else if (line.StartsWith("event done ", StringComparison.Ordinal))
            {
                var parts = line.Split(' ', 4);
                if (_pending.TryRemove(parts[2], out var done))
                    done.TrySetResult(ProbeReply.Parse(parts[3]));
            }
            else if (!line.StartsWith("event ", StringComparison.Ordinal))
            {
                _replies.Writer.TryWrite(line);
            }
        }
        _replies.Writer.TryComplete();
        foreach (var (_, pending) in _pending)
            pending.TrySetException(new InvalidOperationException($"{Name} exited before answering. {Stderr}"));
    }

    private string Stderr
    {
        get
        {
            lock (_stderr)
                return _stderr.Length == 0 ? "" : $"stderr: {_stderr}";
        }
    }

    private async Task<string> NextReplyLineAsync()
    {
        try
        {
            return await _replies.Reader.ReadAsync().AsTask().WaitAsync(ReplyTimeout).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            throw new InvalidOperationException($"{Name} exited. {Stderr}");
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"{Name} did not answer within {ReplyTimeout}. {Stderr}");
        }
    }

    /// <summary>Sends one command and returns its reply. Commands that may block in the kernel go through <see cref="StartCommandAsync"/>.</summary>
    public async Task<ProbeReply> SendAsync(string command)
    {
        await _oneCommandAtATime.WaitAsync(ReplyTimeout).ConfigureAwait(false);
        try
        {
            await _process.StandardInput.WriteLineAsync(command).ConfigureAwait(false);
            await _process.StandardInput.FlushAsync().ConfigureAwait(false);
            return ProbeReply.Parse(await NextReplyLineAsync().ConfigureAwait(false));
        }
        finally
        {
            _oneCommandAtATime.Release();
        }
    }

    /// <summary>
    /// Runs a command on its own thread in the probe (an open or truncate that will wait for a lease break) and
    /// returns at once; the task completes with the command's reply when the kernel lets it finish.
    /// </summary>
    public async Task<Task<ProbeReply>> StartCommandAsync(string command)
    {
        string tag = $"t{Interlocked.Increment(ref _nextTag)}";
        var done = new TaskCompletionSource<ProbeReply>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[tag] = done;
        var accepted = await SendAsync($"async {tag} {command}").ConfigureAwait(false);
        if (!accepted.Ok)
            throw new InvalidOperationException($"{Name}: async {command} -> {accepted}");
        return done.Task;
    }

    /// <summary>A command that must succeed at once; returns its value (InvalidOperationException otherwise).</summary>
    public async Task<string> OkAsync(string command)
    {
        var reply = await SendAsync(command).ConfigureAwait(false);
        return reply.Ok ? reply.Value : throw new InvalidOperationException($"{Name}: {command} -> {reply}");
    }

    public static string Access(OpenAccess access) => access switch
    {
        OpenAccess.Read => "r",
        OpenAccess.Write => "w",
        _ => "rw",
    };

    public static string Type(KernelLease lease) => lease switch
    {
        KernelLease.Read => "rd",
        KernelLease.Write => "wr",
        _ => "un",
    };

    /// <summary>open(2) that must succeed without waiting (nothing conflicts); returns the descriptor.</summary>
    public async Task<int> OpenAsync(string path, OpenAccess access)
    {
        string fd = await OkAsync($"open {path} {Access(access)} nonblock").ConfigureAwait(false);
        return int.Parse(fd, CultureInfo.InvariantCulture);
    }

    /// <summary>open(2) with O_NONBLOCK: a conflicting lease makes it fail with EAGAIN after starting the break.</summary>
    public Task<ProbeReply> TryOpenAsync(string path, OpenAccess access) => SendAsync($"open {path} {Access(access)} nonblock");

    /// <summary>A blocking open(2) on the probe's own thread: completes when the kernel lets it through.</summary>
    public Task<Task<ProbeReply>> StartOpenAsync(string path, OpenAccess access) => StartCommandAsync($"open {path} {Access(access)}");

    public Task<ProbeReply> SetLeaseAsync(int fd, KernelLease lease) => SendAsync($"setlease {fd} {Type(lease)}");

    /// <summary>fcntl(F_GETLEASE): the lease held or, while a break is pending, the type the holder must go to.</summary>
    public async Task<KernelLease> GetLeaseAsync(int fd)
    {
        return await OkAsync($"getlease {fd}").ConfigureAwait(false) switch
        {
            "rd" => KernelLease.Read,
            "wr" => KernelLease.Write,
            "un" => KernelLease.Unlock,
            var other => throw new InvalidOperationException($"{Name}: F_GETLEASE gave {other}."),
        };
    }

    public Task CloseAsync(int fd) => OkAsync($"close {fd}");

    /// <summary>Waits until the probe has reported at least <paramref name="count"/> SIGIOs in all; false if the time ran out.</summary>
    public async Task<bool> WaitForSigiosAsync(int count, TimeSpan timeout)
    {
        // Real time: the kernel and the child process run on the machine's clock, not a test clock.
        long start = TimeProvider.System.GetTimestamp();
        while (true)
        {
            var arrived = Volatile.Read(ref _sigioArrived).Task;
            if (Sigios >= count)
                return true;
            var left = timeout - TimeProvider.System.GetElapsedTime(start);
            if (left <= TimeSpan.Zero)
                return false;
            await Task.WhenAny(arrived, Task.Delay(left)).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Kills the child with SIGKILL now, even while a command of it waits in the kernel, and waits until it has exited;
    /// its pending <see cref="StartCommandAsync"/> tasks then fail with InvalidOperationException.
    /// </summary>
    public async Task KillAsync()
    {
        _process.Kill(); // SIGKILL on Unix: no handler of the child runs
        await _process.WaitForExitAsync().WaitAsync(ReplyTimeout).ConfigureAwait(false);
        await _reader.WaitAsync(ReplyTimeout).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
                _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(ReplyTimeout).ConfigureAwait(false);
            await _reader.WaitAsync(ReplyTimeout).ConfigureAwait(false);
        }
        catch (InvalidOperationException)
        {
            // Never started or already reaped: nothing left to kill.
        }
        finally
        {
            _process.Dispose();
            _oneCommandAtATime.Dispose();
            _breakTimeLock?.Dispose();
        }
    }

    public override string ToString() => $"{Name} (pid {Pid})";
}
