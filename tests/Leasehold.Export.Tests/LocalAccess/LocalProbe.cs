using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Threading.Channels;
using Leasehold.Testing;

namespace Leasehold.Export.Tests.LocalAccess;

/// <summary>One reply from the probe: <c>ok [VALUE]</c> or <c>err ERRNO NAME</c>.</summary>
internal sealed record ProbeReply(bool Ok, string Value, int Errno)
{
    public const int EAGAIN = 11;

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

    public override string ToString() => Ok ? $"ok {Value}".TrimEnd() : Value;
}

/// <summary>
/// The local process: a child running Leasehold.KernelLeaseProbe (its own pid, so fanotify and the kernel see it as
/// someone else). Commands that may wait in the kernel go through <see cref="StartAsync(string)"/>.
/// </summary>
internal sealed class LocalProbe : IAsyncDisposable
{
    public static readonly TimeSpan ReplyTimeout = TimeSpan.FromSeconds(20);

    private readonly Process _process;
    private readonly Channel<string> _replies = Channel.CreateUnbounded<string>();
    private readonly ConcurrentDictionary<string, TaskCompletionSource<ProbeReply>> _pending = new();
    private readonly StringBuilder _stderr = new();
    private readonly Task _reader;
    private readonly SemaphoreSlim _oneAtATime = new(1, 1);
    private int _nextTag;

    /// <summary>Held shared while the probe lives: its waits depend on lease-break-time, which kernel tests change.</summary>
    private IDisposable? _breakTimeLock;

    private LocalProbe(Process process)
    {
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

    public int Pid { get; private set; }

    public static async Task<LocalProbe> StartAsync()
    {
        var held = await LeaseBreakTimeLock.SharedAsync();
        try
        {
            var probe = await StartProcessAsync();
            probe._breakTimeLock = held;
            return probe;
        }
        catch
        {
            held.Dispose();
            throw;
        }
    }

    private static async Task<LocalProbe> StartProcessAsync()
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Leasehold.KernelLeaseProbe.dll"));
        var probe = new LocalProbe(Process.Start(start) ?? throw new InvalidOperationException("Could not start the probe."));
        string ready = await probe.NextLineAsync();
        Assert.StartsWith("ready ", ready, StringComparison.Ordinal);
        probe.Pid = int.Parse(ready[6..], CultureInfo.InvariantCulture);
        return probe;
    }

    private async Task ReadLoopAsync()
    {
        while (await _process.StandardOutput.ReadLineAsync() is { } line)
        {
            if (line.StartsWith("event done ", StringComparison.Ordinal))
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
            pending.TrySetException(new InvalidOperationException($"The probe exited. {Stderr}"));
    }

    private string Stderr
    {
        get
        {
            lock (_stderr)
                return _stderr.ToString();
        }
    }

    private async Task<string> NextLineAsync()
    {
        try
        {
            return await _replies.Reader.ReadAsync().AsTask().WaitAsync(ReplyTimeout);
        }
        catch (ChannelClosedException)
        {
            throw new InvalidOperationException($"The probe exited. {Stderr}");
        }
    }

    /// <summary>Sends one command that completes at once and returns its reply.</summary>
    public async Task<ProbeReply> SendAsync(string command)
    {
        await _oneAtATime.WaitAsync(ReplyTimeout);
        try
        {
            await _process.StandardInput.WriteLineAsync(command);
            await _process.StandardInput.FlushAsync();
            return ProbeReply.Parse(await NextLineAsync());
        }
        finally
        {
            _oneAtATime.Release();
        }
    }

    /// <summary>Runs a command on its own thread in the probe; the task completes when the kernel lets it finish.</summary>
    public async Task<Task<ProbeReply>> StartAsync(string command)
    {
        string tag = $"t{Interlocked.Increment(ref _nextTag)}";
        var done = new TaskCompletionSource<ProbeReply>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[tag] = done;
        var accepted = await SendAsync($"async {tag} {command}");
        Assert.True(accepted.Ok, $"async {command} -> {accepted}");
        return done.Task;
    }

    /// <summary>A command that must succeed; returns its value.</summary>
    public async Task<string> OkAsync(string command)
    {
        var reply = await SendAsync(command);
        Assert.True(reply.Ok, $"{command} -> {reply}");
        return reply.Value;
    }

    /// <summary>
    /// Kills the child with SIGKILL now, even while a command of it waits in the kernel, and waits until it has exited;
    /// its pending <see cref="StartAsync(string)"/> tasks then fail with InvalidOperationException.
    /// </summary>
    public async Task KillAsync()
    {
        _process.Kill(); // SIGKILL on Unix: no handler of the child runs
        await _process.WaitForExitAsync().WaitAsync(ReplyTimeout);
        await _reader.WaitAsync(ReplyTimeout);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
                _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(ReplyTimeout);
            await _reader.WaitAsync(ReplyTimeout);
        }
        catch (InvalidOperationException)
        {
        }
        finally
        {
            _process.Dispose();
            _oneAtATime.Dispose();
            _breakTimeLock?.Dispose();
        }
    }
}
