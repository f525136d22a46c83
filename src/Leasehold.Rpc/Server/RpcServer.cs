using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Leasehold.Rpc.Server;

/// <summary>
/// Accepts TCP connections and serves ONC RPC programs on them. <see cref="StopAsync"/> stops accepting, closes every
/// connection and waits until every connection task has ended: no call, reply or task is left behind.
/// </summary>
/// <remarks>
/// Limits (<see cref="RpcOptions"/>): at <see cref="RpcOptions.MaxConnections"/> a new connection closes the least
/// recently active idle one rather than being refused; a heartbeat on the injected <see cref="TimeProvider"/> closes
/// connections idle past <see cref="RpcOptions.IdleTimeout"/> (or <see cref="RpcOptions.BoundIdleTimeout"/>); replies
/// waiting to be written are bounded per connection and in total; warnings about a peer go through one
/// <see cref="PeerLogLimiter"/>.
/// </remarks>
public sealed class RpcServer : IAsyncDisposable
{
    private readonly Dictionary<uint, IRpcProgram> _programs;
    private readonly RpcOptions _options;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<long, (RpcConnection Connection, Task Task)> _connections = new();
    private Socket? _listener;
    private Task? _acceptLoop;
    private ITimer? _heartbeat;
    private long _nextConnectionId;
    private long _queuedReplyBytes;

    /// <param name="programs">The programs served, by program number.</param>
    /// <param name="options">Limits; validated here.</param>
    /// <param name="logger">Where RPC events go (ids 3xxx).</param>
    /// <param name="time">The clock for idle timeouts and log rate limits; the system clock when null.</param>
    public RpcServer(IEnumerable<IRpcProgram> programs, RpcOptions? options = null, ILogger<RpcServer>? logger = null, TimeProvider? time = null)
    {
        _programs = programs.ToDictionary(p => p.Program);
        Metrics = new RpcMetrics(_programs.Keys);
        _options = options ?? new RpcOptions();
        _options.Validate();
        _logger = logger ?? (ILogger)NullLogger.Instance;
        Time = time ?? TimeProvider.System;
        Warnings = new PeerLogLimiter(_options.MaxWarningsPerPeer, _options.WarningWindow, Time,
            (peer, count, span) => Log.WarningsSuppressed(_logger, count, peer, (long)span.TotalSeconds, _options.MaxWarningsPerPeer, (long)_options.WarningWindow.TotalSeconds));
    }

    /// <summary>Where the server listens, once started (the real port when asked for port 0).</summary>
    public IPEndPoint? LocalEndPoint => (IPEndPoint?)_listener?.LocalEndPoint;

    /// <summary>This server's instruments, on its own meter named <see cref="RpcMetrics.MeterName"/> (disposed with the server).</summary>
    public RpcMetrics Metrics { get; }

    /// <summary>Connections open (including ones being closed).</summary>
    public int ConnectionCount => _connections.Count;

    /// <summary>Bytes of replies produced and not yet written to a socket, over all connections.</summary>
    public long QueuedReplyBytes => Interlocked.Read(ref _queuedReplyBytes);

    internal TimeProvider Time { get; }

    /// <summary>Rate limit for warnings about a peer's traffic (one budget per peer address).</summary>
    internal PeerLogLimiter Warnings { get; }

    internal IRpcProgram? FindProgram(uint program) => _programs.GetValueOrDefault(program);

    internal void AddQueuedReplyBytes(long delta) => Interlocked.Add(ref _queuedReplyBytes, delta);

    /// <summary>
    /// Binds and listens on <paramref name="endPoint"/> and starts accepting.
    /// </summary>
    /// <exception cref="RpcListenException">The address cannot be listened on: in use (by another server, even one of
    /// ours: the socket never shares its port), not ours, or a privileged port.</exception>
    public void Start(IPEndPoint endPoint)
    {
        if (_listener is not null)
            throw new InvalidOperationException("The server is already started.");
        Start(Listen(endPoint));
    }

    /// <summary>
    /// Starts accepting on <paramref name="listener"/>, a socket from <see cref="Listen"/>, which the server now owns.
    /// A host binds first and builds what serves the calls afterwards, so an address in use is refused before
    /// anything else is done; connections made meanwhile wait in the backlog.
    /// </summary>
    public void Start(Socket listener)
    {
        ArgumentNullException.ThrowIfNull(listener);
        if (_listener is not null)
            throw new InvalidOperationException("The server is already started.");
        _listener = listener;
        Log.Listening(_logger, listener.LocalEndPoint!);
        var sweep = _options.IdleTimeout / 4;
        _heartbeat = Time.CreateTimer(static s => ((RpcServer)s!).CloseIdleConnections(), this, sweep, sweep);
        _acceptLoop = AcceptLoopAsync(listener);
    }

    /// <summary>
    /// A TCP socket bound to <paramref name="endPoint"/> and listening (backlog 512), not yet accepting; hand it to
    /// <see cref="Start(Socket)"/>, or dispose it.
    /// </summary>
    /// <exception cref="RpcListenException">The address cannot be listened on: in use (by another server, even one of
    /// ours: the socket never shares its port), not ours, or a privileged port.</exception>
    public static Socket Listen(IPEndPoint endPoint)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        var listener = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            AllowRebindOnly(listener);
            // [::] means every address, IPv4 ones too (as knfsd's and sshd's listeners do); .NET turns dual-stack off.
            if (endPoint.Address.Equals(IPAddress.IPv6Any))
                listener.DualMode = true;
            listener.Bind(endPoint);
            listener.Listen(512);
            return listener;
        }
        catch (SocketException ex)
        {
            listener.Dispose();
            throw new RpcListenException(endPoint, ex);
        }
        catch
        {
            listener.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Lets a restarted server bind while connections of its previous run linger in TIME_WAIT, and nothing more.
    /// </summary>
    /// <remarks>
    /// .NET's <see cref="SocketOptionName.ReuseAddress"/> sets SO_REUSEPORT as well as SO_REUSEADDR on Linux and
    /// macOS, and SO_REUSEPORT lets a second listener bind the very same address and port, the kernel spreading
    /// connections over both. So SO_REUSEADDR alone is set with the raw option: with it, Linux and the BSDs still
    /// refuse a second listener (EADDRINUSE). On Windows SO_REUSEADDR means "steal the port", so exclusive use is asked
    /// for instead.
    /// </remarks>
    private static void AllowRebindOnly(Socket socket)
    {
        if (OperatingSystem.IsWindows())
            socket.ExclusiveAddressUse = true;
        else if (OperatingSystem.IsLinux())
            socket.SetRawSocketOption(1 /* SOL_SOCKET */, 2 /* SO_REUSEADDR */, BitConverter.GetBytes(1));
        else if (OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD())
            socket.SetRawSocketOption(0xffff /* SOL_SOCKET */, 4 /* SO_REUSEADDR */, BitConverter.GetBytes(1));
    }

    private async Task AcceptLoopAsync(Socket listener)
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException && _stopping.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException)
            {
                continue; // a connection reset before we accepted it: nothing to do
            }

            long id = Interlocked.Increment(ref _nextConnectionId);
            EndPoint? remote;
            try
            {
                remote = socket.RemoteEndPoint;
            }
            catch (SocketException)
            {
                socket.Dispose(); // gone already
                continue;
            }
            if (_connections.Count >= _options.MaxConnections && !MakeRoom(id, remote))
            {
                if (Warnings.ShouldLog(remote))
                    Log.TooManyConnections(_logger, id, remote, _options.MaxConnections);
                socket.Dispose();
                continue;
            }
            socket.NoDelay = true; // RPC is request/response: never hold a reply back waiting for more bytes
            var connection = new RpcConnection(id, new NetworkStream(socket, ownsSocket: true), remote, this, _options, _logger, _stopping.Token);
            var run = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _connections[id] = (connection, run.Task);
            Metrics.ConnectionOpened();
            _ = RunConnectionAsync(id, connection, run);
        }
    }

    /// <summary>
    /// At the connection limit: closes the least recently active connection that is executing no call, preferring
    /// one never bound to a session (knfsd's svc_check_conn_limits closes its oldest temporary connection). False if
    /// every connection is busy, so the new one must be refused.
    /// </summary>
    private bool MakeRoom(long newcomer, EndPoint? remote)
    {
        RpcConnection? victim = null;
        int open = 0;
        foreach (var (connection, _) in _connections.Values)
        {
            if (connection.IsClosing)
                continue;
            open++;
            if (connection.IsExecuting)
                continue;
            if (victim is null || (connection.IsBound, connection.LastActivity).CompareTo((victim.IsBound, victim.LastActivity)) < 0)
                victim = connection;
        }
        if (open < _options.MaxConnections)
            return true; // enough are closing already
        if (victim is null)
            return false;
        if (Warnings.ShouldLog(remote))
        {
            Log.ClosedToMakeRoom(_logger, victim.Id, victim.RemoteEndPoint, (long)Time.GetElapsedTime(victim.LastActivity).TotalSeconds,
                victim.IsBound ? "bound" : "unbound", _options.MaxConnections, newcomer, remote);
        }
        victim.Abort();
        return true;
    }

    /// <summary>The heartbeat: closes connections that have had no traffic for their idle timeout.</summary>
    private void CloseIdleConnections()
    {
        long now = Time.GetTimestamp();
        foreach (var (connection, _) in _connections.Values)
        {
            if (connection.IsClosing || connection.IsExecuting)
                continue;
            var idle = Time.GetElapsedTime(connection.LastActivity, now);
            var timeout = connection.IsBound ? _options.BoundIdleTimeout : _options.IdleTimeout;
            if (idle < timeout)
                continue;
            Log.IdleClosed(_logger, connection.Id, connection.RemoteEndPoint, (long)idle.TotalSeconds, connection.IsBound ? "bound" : "unbound");
            connection.Abort();
        }
    }

    private async Task RunConnectionAsync(long id, RpcConnection connection, TaskCompletionSource done)
    {
        await Task.Yield(); // the accept loop goes straight back to accepting
        try
        {
            await connection.RunAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // RunAsync handles what a peer can cause; anything else is our bug, and must not take the server down.
            Log.ConnectionFailed(_logger, ex, id, connection.RemoteEndPoint);
        }
        finally
        {
            _connections.TryRemove(id, out _);
            Metrics.ConnectionClosed();
            await connection.DisposeAsync().ConfigureAwait(false);
            done.TrySetResult();
        }
    }

    /// <summary>Stops accepting, closes every connection (calls in flight see their token cancelled) and waits for them all.</summary>
    public async Task StopAsync()
    {
        if (_listener is null || _stopping.IsCancellationRequested)
            return;
        var endPoint = _listener.LocalEndPoint!;
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        if (_heartbeat is not null)
            await _heartbeat.DisposeAsync().ConfigureAwait(false);
        if (_acceptLoop is not null)
            await _acceptLoop.ConfigureAwait(false);
        var remaining = _connections.Values.Select(c => c.Task).ToArray();
        await Task.WhenAll(remaining).ConfigureAwait(false);
        Warnings.Dispose(); // the last summaries
        Log.Stopped(_logger, endPoint, remaining.Length);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        Warnings.Dispose();
        _stopping.Dispose();
        Metrics.Dispose();
    }
}
