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
public sealed class RpcServer : IAsyncDisposable
{
    private readonly Dictionary<uint, IRpcProgram> _programs;
    private readonly RpcOptions _options;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<long, Task> _connections = new();
    private Socket? _listener;
    private Task? _acceptLoop;
    private long _nextConnectionId;

    public RpcServer(IEnumerable<IRpcProgram> programs, RpcOptions? options = null, ILogger<RpcServer>? logger = null)
    {
        _programs = programs.ToDictionary(p => p.Program);
        _options = options ?? new RpcOptions();
        _options.Validate();
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    /// <summary>Where the server listens, once started (the real port when asked for port 0).</summary>
    public IPEndPoint? LocalEndPoint => (IPEndPoint?)_listener?.LocalEndPoint;

    public int ConnectionCount => _connections.Count;

    internal IRpcProgram? FindProgram(uint program) => _programs.GetValueOrDefault(program);

    public void Start(IPEndPoint endPoint)
    {
        if (_listener is not null)
            throw new InvalidOperationException("The server is already started.");
        var listener = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            listener.Bind(endPoint);
            listener.Listen(512);
        }
        catch
        {
            listener.Dispose();
            throw;
        }
        _listener = listener;
        Log.Listening(_logger, listener.LocalEndPoint!);
        _acceptLoop = AcceptLoopAsync(listener);
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
            if (_connections.Count >= _options.MaxConnections)
            {
                Log.TooManyConnections(_logger, id, socket.RemoteEndPoint, _options.MaxConnections);
                socket.Dispose();
                continue;
            }
            socket.NoDelay = true; // RPC is request/response: never hold a reply back waiting for more bytes
            var connection = new RpcConnection(id, new NetworkStream(socket, ownsSocket: true), socket.RemoteEndPoint, this, _options, _logger, _stopping.Token);
            _connections[id] = RunConnectionAsync(id, connection);
        }
    }

    private async Task RunConnectionAsync(long id, RpcConnection connection)
    {
        await Task.Yield(); // the accept loop goes straight back to accepting
        try
        {
            await connection.RunAsync().ConfigureAwait(false);
        }
        finally
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            _connections.TryRemove(id, out _);
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
        if (_acceptLoop is not null)
            await _acceptLoop.ConfigureAwait(false);
        var remaining = _connections.Values.ToArray();
        await Task.WhenAll(remaining).ConfigureAwait(false);
        Log.Stopped(_logger, endPoint, remaining.Length);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }
}
