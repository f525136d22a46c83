using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Leasehold.Rpc.Framing;
using Leasehold.Rpc.Messages;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Client.Rpc;

/// <summary>Where a connection is, for diagnostics (shown in timeout messages).</summary>
public enum RpcClientState
{
    Open,
    Closing,
    Closed,
}

/// <summary>A reply whose accept_stat was SUCCESS: the results start at <see cref="ResultsOffset"/> of <see cref="Record"/>.</summary>
public sealed class RpcReply(uint xid, byte[] record, int resultsOffset)
{
    public uint Xid { get; } = xid;

    /// <summary>The whole reply record, record marks removed.</summary>
    public byte[] Record { get; } = record;

    public int ResultsOffset { get; } = resultsOffset;

    public ReadOnlySpan<byte> Results => Record.AsSpan(ResultsOffset);

    public ReadOnlyMemory<byte> ResultsMemory => Record.AsMemory(ResultsOffset);
}

/// <summary>
/// An ONC RPC v2 client over one TCP connection (RFC 5531, record marking §11). Many calls may be in flight; each
/// gets a fresh xid and its reply is matched by xid, in whatever order the server answers. The server may also send
/// CALLs on this connection (the NFSv4.1 back channel); they go to <see cref="CallHandler"/>.
/// </summary>
/// <remarks>
/// Threads: one read loop owns the socket's read side. Writers take <c>_sendLock</c> and write one whole record per
/// WriteAsync, so records never interleave; a write is never cancelled halfway (that would corrupt the stream), only
/// the wait for the lock and for the reply are. Invariant: an xid is in <c>_pending</c> from just before its record is
/// sent until its reply arrives, its wait is abandoned, or the connection closes — whichever comes first removes it.
/// </remarks>
public sealed class RpcClient : IAsyncDisposable
{
    private const uint RpcVersion = 2;
    private const int RecordMarkSize = 4;

    private readonly Stream _stream;
    private readonly RpcClientOptions _options;
    private readonly ConcurrentDictionary<uint, TaskCompletionSource<byte[]>> _pending = new();
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly CancellationTokenSource _closing = new();
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task _readLoop;
    private Exception? _failure;
    private int _state; // RpcClientState
    private uint _nextXid;
    private volatile IRpcCallHandler? _callHandler;

    private RpcClient(Stream stream, RpcClientOptions options, IRpcCallHandler? callHandler)
    {
        _stream = stream;
        _options = options;
        _callHandler = callHandler;
        _nextXid = (uint)Random.Shared.Next(); // a fresh start per connection, so a server's duplicate cache never confuses two clients
        _readLoop = Task.Run(ReadLoopAsync);
    }

    /// <summary>Connects over TCP (Nagle off: calls are small and latency-bound).</summary>
    public static async Task<RpcClient> ConnectAsync(EndPoint server, RpcClientOptions? options = null,
        IRpcCallHandler? callHandler = null, CancellationToken cancellationToken = default)
    {
        options ??= RpcClientOptions.Default;
        var socket = new Socket(server.AddressFamily == AddressFamily.Unspecified ? AddressFamily.InterNetwork : server.AddressFamily,
            SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using var timeout = new CancellationTokenSource(options.ConnectTimeout, options.TimeProvider);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
            try
            {
                await socket.ConnectAsync(server, linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"Connecting to {server} took longer than {options.ConnectTimeout}.");
            }
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return new RpcClient(new NetworkStream(socket, ownsSocket: true), options, callHandler);
    }

    /// <summary>Runs over any duplex stream (tests use an in-memory pair).</summary>
    public static RpcClient FromStream(Stream stream, RpcClientOptions? options = null, IRpcCallHandler? callHandler = null) =>
        new(stream, options ?? RpcClientOptions.Default, callHandler);

    /// <summary>Serves calls from the server (back channel). Null answers PROG_UNAVAIL.</summary>
    public IRpcCallHandler? CallHandler
    {
        get => _callHandler;
        set => _callHandler = value;
    }

    public RpcClientState State => (RpcClientState)Volatile.Read(ref _state);

    /// <summary>Completes when the connection is closed, by either side.</summary>
    public Task Completion => _closed.Task;

    /// <summary>Calls waiting for a reply.</summary>
    public int PendingCalls => _pending.Count;

    public uint NextXid() => Interlocked.Increment(ref _nextXid);

    /// <summary>Sends a call whose arguments <paramref name="writeArgs"/> encodes, and waits for its reply.</summary>
    /// <exception cref="RpcException">The server refused the call at the RPC level.</exception>
    /// <exception cref="TimeoutException">No reply within <see cref="RpcClientOptions.CallTimeout"/>.</exception>
    /// <exception cref="IOException">The connection is closed or broke.</exception>
    public async Task<RpcReply> CallAsync<TState>(uint program, uint version, uint procedure, RpcCredentials credentials,
        TState state, Action<XdrWriter, TState> writeArgs, CancellationToken cancellationToken = default)
    {
        ThrowIfClosed();
        uint xid = NextXid();
        var waiter = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var writer = new XdrWriter(1024);
        writer.WriteUInt32(0); // record mark, patched below
        writer.WriteUInt32(xid);
        writer.WriteUInt32((uint)MsgType.Call);
        writer.WriteUInt32(RpcVersion);
        writer.WriteUInt32(program);
        writer.WriteUInt32(version);
        writer.WriteUInt32(procedure);
        RpcAuth.Write(writer, credentials);
        writer.WriteUInt32((uint)AuthFlavor.None); // verifier: AUTH_NONE for AUTH_NONE and AUTH_SYS callers
        writer.WriteUInt32(0);
        writeArgs(writer, state);
        writer.PatchUInt32(0, RecordMarkScanner.LastFragmentMark(writer.Position - RecordMarkSize));

        using var timeout = new CancellationTokenSource(_options.CallTimeout, _options.TimeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        _pending[xid] = waiter;
        try
        {
            await SendAsync(writer.WrittenMemory, linked.Token).ConfigureAwait(false);
            byte[] record = await waiter.Task.WaitAsync(linked.Token).ConfigureAwait(false);
            return ParseReply(xid, record);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException(
                $"RPC call xid {xid} (program {program}, procedure {procedure}) got no reply within {_options.CallTimeout}; connection {State}, {PendingCalls} calls pending.");
        }
        finally
        {
            _pending.TryRemove(xid, out _);
        }
    }

    /// <summary>Sends a call with pre-encoded arguments.</summary>
    public Task<RpcReply> CallAsync(uint program, uint version, uint procedure, RpcCredentials credentials,
        ReadOnlyMemory<byte> args, CancellationToken cancellationToken = default) =>
        CallAsync(program, version, procedure, credentials, args, static (w, a) => w.WriteFixedOpaque(a.Span), cancellationToken);

    private async Task SendAsync(ReadOnlyMemory<byte> record, CancellationToken cancellationToken)
    {
        await _sendLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ThrowIfClosed();
            // Not the caller's token: a write cut in the middle would leave half a record on the wire.
            await _stream.WriteAsync(record, _closing.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException || (ex is OperationCanceledException && _closing.IsCancellationRequested))
        {
            throw Break(ex);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    private static RpcReply ParseReply(uint xid, byte[] record)
    {
        var r = new XdrReader(record);
        r.Skip(8); // xid and msg_type, checked by the read loop
        var replyStat = (ReplyStat)r.ReadUInt32();
        if (replyStat == ReplyStat.MsgAccepted)
        {
            r.ReadUInt32(); // verifier flavor
            r.ReadOpaque(RpcCredentials.MaxAuthBody);
            var accept = (AcceptStat)r.ReadUInt32();
            switch (accept)
            {
                case AcceptStat.Success:
                    return new RpcReply(xid, record, r.Position);
                case AcceptStat.ProgMismatch:
                    uint low = r.ReadUInt32(), high = r.ReadUInt32();
                    throw new RpcException($"PROG_MISMATCH: the server supports versions {low}..{high}.", accept);
                default:
                    throw new RpcException($"The server accepted xid {xid} but answered {accept}.", accept);
            }
        }
        if (replyStat != ReplyStat.MsgDenied)
            throw new RpcException($"Reply to xid {xid} has reply_stat {(uint)replyStat}.");
        var reject = (RejectStat)r.ReadUInt32();
        if (reject == RejectStat.RpcMismatch)
        {
            uint low = r.ReadUInt32(), high = r.ReadUInt32();
            throw new RpcException($"RPC_MISMATCH: the server speaks RPC versions {low}..{high}.", rejectStat: reject);
        }
        var auth = (AuthStat)r.ReadUInt32();
        throw new RpcException($"AUTH_ERROR: {auth}.", rejectStat: reject, authStat: auth);
    }

    private async Task ReadLoopAsync()
    {
        var reader = PipeReader.Create(_stream, new StreamPipeReaderOptions(bufferSize: 64 * 1024, leaveOpen: true));
        Exception? failure = null;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync(_closing.Token).ConfigureAwait(false);
                var buffer = result.Buffer;
                try
                {
                    while (true)
                    {
                        var status = RecordMarkScanner.TryScan(buffer, _options.MaxRecordSize, _options.MaxFragmentsPerRecord,
                            out long consumed, out int payloadLength, out _);
                        if (status == RecordScanStatus.NeedMoreData)
                            break;
                        if (status != RecordScanStatus.Done)
                        {
                            failure = new IOException($"The server sent a bad record ({status}); the stream cannot be resynchronised.");
                            return;
                        }
                        var record = new byte[payloadLength];
                        RecordMarkScanner.CopyPayload(buffer.Slice(0, consumed), record);
                        buffer = buffer.Slice(consumed);
                        Dispatch(record);
                    }
                    if (result.IsCompleted)
                    {
                        failure = new IOException("The server closed the connection.");
                        return;
                    }
                }
                finally
                {
                    reader.AdvanceTo(buffer.Start, buffer.End);
                }
            }
        }
        catch (OperationCanceledException) when (_closing.IsCancellationRequested)
        {
            failure = new ObjectDisposedException(nameof(RpcClient), "The RPC client was closed.");
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or SocketException)
        {
            failure = new IOException("The connection to the server broke.", ex);
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
            Break(failure ?? new IOException("The connection closed."));
        }
    }

    private void Dispatch(byte[] record)
    {
        if (record.Length < 8)
            return; // not even an xid and a type: nothing to match it with
        var r = new XdrReader(record);
        uint xid = r.ReadUInt32();
        var type = (MsgType)r.ReadUInt32();
        if (type == MsgType.Reply)
        {
            if (_pending.TryRemove(xid, out var waiter))
                waiter.TrySetResult(record);
            // else: a reply to a call we gave up on (timeout or cancellation): drop it.
            return;
        }
        if (type == MsgType.Call)
            _ = ServeCallAsync(xid, record);
    }

    /// <summary>Answers a server-to-client call; runs off the read loop so the loop keeps matching replies.</summary>
    private async Task ServeCallAsync(uint xid, byte[] record)
    {
        XdrWriter reply;
        var call = ParseCall(xid, record, out var early);
        if (call is null)
        {
            reply = early!;
        }
        else
        {
            var handler = _callHandler;
            if (handler is null)
            {
                reply = RpcReplies.Accepted(xid, AcceptStat.ProgUnavail);
            }
            else
            {
                RpcCallReply answer;
                try
                {
                    answer = await handler.HandleCallAsync(call, _closing.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (_closing.IsCancellationRequested)
                {
                    return;
                }
                catch (XdrException)
                {
                    answer = new RpcCallReply(AcceptStat.GarbageArgs, default);
                }
#pragma warning disable CA1031 // The one boundary for a pluggable handler: a fault answers SYSTEM_ERR, as a server does.
                catch (Exception)
#pragma warning restore CA1031
                {
                    answer = new RpcCallReply(AcceptStat.SystemErr, default);
                }
                if (answer.Status == AcceptStat.Success)
                {
                    reply = RpcReplies.BeginSuccess(xid, out _);
                    reply.WriteFixedOpaque(answer.Results.Span);
                    RpcReplies.Finish(reply);
                }
                else
                {
                    reply = RpcReplies.Accepted(xid, answer.Status);
                }
            }
        }
        using (reply)
        {
            try
            {
                await SendAsync(reply.WrittenMemory, _closing.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException or OperationCanceledException)
            {
                // The connection is gone; the server will see that too.
            }
        }
    }

    private static RpcIncomingCall? ParseCall(uint xid, byte[] record, out XdrWriter? reply)
    {
        reply = null;
        try
        {
            var r = new XdrReader(record);
            r.Skip(8);
            uint rpcVersion = r.ReadUInt32();
            if (rpcVersion != RpcVersion)
            {
                reply = RpcReplies.Denied(xid, RejectStat.RpcMismatch, RpcVersion, RpcVersion);
                return null;
            }
            uint program = r.ReadUInt32(), version = r.ReadUInt32(), procedure = r.ReadUInt32();
            var flavor = (AuthFlavor)r.ReadUInt32();
            var body = r.ReadOpaque(RpcCredentials.MaxAuthBody);
            var credentials = flavor == AuthFlavor.Sys ? RpcCredentials.ReadAuthSys(body) : RpcCredentials.None;
            r.ReadUInt32(); // verifier
            r.ReadOpaque(RpcCredentials.MaxAuthBody);
            return new RpcIncomingCall(xid, program, version, procedure, credentials, record.AsMemory(r.Position));
        }
        catch (XdrException)
        {
            reply = RpcReplies.Accepted(xid, AcceptStat.GarbageArgs);
            return null;
        }
    }

    private void ThrowIfClosed()
    {
        if (Volatile.Read(ref _state) != (int)RpcClientState.Open)
            throw new IOException("The RPC connection is closed.", _failure);
    }

    /// <summary>The only way to a closed connection: records why, fails every pending call, and stops the loop.</summary>
    private IOException Break(Exception reason)
    {
        var io = reason as IOException ?? new IOException("The RPC connection closed.", reason);
        if (Interlocked.CompareExchange(ref _state, (int)RpcClientState.Closing, (int)RpcClientState.Open) == (int)RpcClientState.Open)
        {
            _failure = io;
            _closing.Cancel();
            foreach (var xid in _pending.Keys)
            {
                if (_pending.TryRemove(xid, out var waiter))
                    waiter.TrySetException(io);
            }
            _stream.Dispose();
            Volatile.Write(ref _state, (int)RpcClientState.Closed);
            _closed.TrySetResult();
        }
        return io;
    }

    public async ValueTask DisposeAsync()
    {
        Break(new ObjectDisposedException(nameof(RpcClient), "The RPC client was closed."));
        await _readLoop.ConfigureAwait(false);
        _closing.Dispose();
        _sendLock.Dispose();
    }
}
