using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Threading.Channels;
using Leasehold.Rpc.Framing;
using Leasehold.Rpc.Messages;
using Leasehold.Rpc.Xdr;
using Microsoft.Extensions.Logging;

namespace Leasehold.Rpc.Server;

/// <summary>
/// One TCP connection: reads records, runs calls concurrently (up to a limit) and writes replies, possibly out of
/// order, through a single writer so that replies never interleave.
/// </summary>
/// <remarks>
/// <para>Threads: one read loop, one write loop, and one task per call in flight. Each record is copied out of the
/// pipe into a pooled buffer that lives until its call's reply is queued, so the read loop can move on to the next
/// record while earlier calls run. Nothing here knows what the calls mean.</para>
/// <para>Back-pressure: a call holds one of <see cref="RpcOptions.MaxCallsInFlightPerConnection"/> slots from the
/// moment it is read until its reply has been written to the socket, and no call is read while this connection's
/// unwritten replies reach <see cref="RpcOptions.MaxQueuedReplyBytesPerConnection"/>, or while the server's total
/// is over <see cref="RpcOptions.MaxQueuedReplyBytes"/> and this connection has replies of its own unwritten. So a
/// peer that never reads its replies is soon not read either, and its replies cost a bounded amount of memory.</para>
/// <para>Calls of our own (<see cref="IRpcConnection.CallAsync"/>, in RpcConnection.Calls.cs) go through the same
/// writer; a REPLY the peer sends is recognised by the read loop before any call slot or reply room is waited for,
/// and handed to the call waiting for its xid.</para>
/// <para>Activity (for the idle timeout) is bytes received and replies written; a connection whose peer neither
/// sends nor reads is idle even with replies queued.</para>
/// </remarks>
internal sealed partial class RpcConnection : IRpcConnection, IAsyncDisposable
{
    private const int RpcVersion = 2;

    private readonly Stream _stream;
    private readonly RpcServer _server;
    private readonly RpcOptions _options;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _closed;
    private readonly SemaphoreSlim _callSlots;
    // Synchronous continuations: the write loop, when idle, runs on the thread that queued the reply, saving a
    // thread-pool hop per reply; when busy, the reply waits its turn and the writer flushes a burst at once.
    // It carries this side's own calls too (RpcConnection.Calls.cs), so a call and a reply never interleave either.
    private readonly Channel<Outgoing> _outgoing = Channel.CreateUnbounded<Outgoing>(new UnboundedChannelOptions { SingleReader = true, AllowSynchronousContinuations = true });
    private int _callsRunning;
    private readonly TaskCompletionSource _callsDrained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    // Released by the writer after each write, so a read loop waiting for room in the reply queue looks again.
    private readonly SemaphoreSlim _replyRoom = new(0, 1);
    private long _queuedReplyBytes;
    private int _executing;
    private long _lastActivity;
    private int _bound;
    private int _closing;

    public RpcConnection(long id, Stream stream, EndPoint? remote, RpcServer server, RpcOptions options, ILogger logger, CancellationToken serverStopping)
    {
        Id = id;
        _stream = stream;
        RemoteEndPoint = remote;
        _server = server;
        _options = options;
        _logger = logger;
        _closed = CancellationTokenSource.CreateLinkedTokenSource(serverStopping);
        Closed = _closed.Token;
        _callSlots = new SemaphoreSlim(options.MaxCallsInFlightPerConnection, options.MaxCallsInFlightPerConnection);
        _lastActivity = server.Time.GetTimestamp();
    }

    public long Id { get; }

    public EndPoint? RemoteEndPoint { get; }

    // Taken once: Session and BackChannel keep a connection after it ended, and a disposed source's Token throws.
    public CancellationToken Closed { get; }

    public void MarkBound() => Volatile.Write(ref _bound, 1);


    /// <summary>The program said the connection carries its state (<see cref="IRpcConnection.MarkBound"/>).</summary>
    internal bool IsBound => Volatile.Read(ref _bound) != 0;

    /// <summary>A call's handler is running (a connection that is working is never idle).</summary>
    internal bool IsExecuting => Volatile.Read(ref _executing) > 0;

    /// <summary>Timestamp (server clock) of the last bytes received or reply written.</summary>
    internal long LastActivity => Volatile.Read(ref _lastActivity);

    /// <summary><see cref="Abort"/> was called: the connection no longer counts towards the limit.</summary>
    internal bool IsClosing => Volatile.Read(ref _closing) != 0;

    /// <summary>Bytes of replies produced and not yet written to the socket.</summary>
    internal long QueuedReplyBytes => Interlocked.Read(ref _queuedReplyBytes);

    /// <summary>Closes the connection from the server's side (idle, or making room): calls in flight are cancelled.</summary>
    internal void Abort()
    {
        if (Interlocked.Exchange(ref _closing, 1) != 0)
            return;
        try
        {
            _ = _closed.CancelAsync();
        }
        catch (ObjectDisposedException)
        {
            // it ended on its own meanwhile
        }
    }

    private void Touch() => Volatile.Write(ref _lastActivity, _server.Time.GetTimestamp());

    /// <summary>Runs the connection until the peer closes it, it breaks the protocol, or the server stops.</summary>
    public async Task RunAsync()
    {
        Log.ConnectionAccepted(_logger, Id, RemoteEndPoint);
        var writer = Task.Run(WriteLoopAsync);
        try
        {
            await ReadLoopAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
        {
            if (ex is IOException)
                Log.ConnectionFaulted(_logger, ex, Id, RemoteEndPoint);
        }
        finally
        {
            // No reply can arrive any more: our own calls end now, before waiting for handlers that may await them.
            CompletePendingCallsClosed();
            // Let the calls already running finish and queue their replies, then close the write side.
            CallFinished(); // the read loop's own reference
            await _callsDrained.Task.ConfigureAwait(false);
            _outgoing.Writer.TryComplete();
            try
            {
                await writer.ConfigureAwait(false);
            }
            finally
            {
                while (_outgoing.Reader.TryRead(out var unsent))
                    Written(unsent); // the writer gave up (the peer went away): give their memory and accounting back
            }
            Interlocked.Exchange(ref _closing, 1);
            await _closed.CancelAsync().ConfigureAwait(false);
            Log.ConnectionClosed(_logger, Id, RemoteEndPoint);
        }
    }

    private async Task ReadLoopAsync()
    {
        Interlocked.Increment(ref _callsRunning); // held by the read loop until it ends, so drained means "loop done too"
        var reader = PipeReader.Create(_stream, new StreamPipeReaderOptions(bufferSize: 64 * 1024, leaveOpen: true));
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync(Closed).ConfigureAwait(false);
                var buffer = result.Buffer;
                if (!buffer.IsEmpty)
                    Touch();
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
                            bool tooLarge = status == RecordScanStatus.TooLarge;
                            if (_server.Warnings.ShouldLog(RemoteEndPoint))
                            {
                                Log.BadRecord(_logger, Id, RemoteEndPoint, tooLarge ? "record too large" : "too many fragments",
                                    tooLarge ? _options.MaxRecordSize : _options.MaxFragmentsPerRecord);
                            }
                            return;
                        }

                        // A REPLY to one of our calls goes to its caller at once: it takes no call slot and waits for no
                        // reply room, so a peer that does not read our replies cannot hold up the answers to our calls.
                        if (IsReply(buffer.Slice(0, consumed)))
                        {
                            var record = new byte[payloadLength];
                            RecordMarkScanner.CopyPayload(buffer.Slice(0, consumed), record);
                            buffer = buffer.Slice(consumed);
                            RouteReply(record);
                            continue;
                        }

                        // Room first, then the copy: a peer that does not read its replies stops being read here.
                        await _callSlots.WaitAsync(Closed).ConfigureAwait(false);
                        try
                        {
                            await WaitForReplyRoomAsync().ConfigureAwait(false);
                        }
                        catch
                        {
                            _callSlots.Release();
                            throw;
                        }
                        var rented = ArrayPool<byte>.Shared.Rent(Math.Max(payloadLength, 1));
                        RecordMarkScanner.CopyPayload(buffer.Slice(0, consumed), rented);
                        buffer = buffer.Slice(consumed);
                        Interlocked.Increment(ref _callsRunning);
                        Interlocked.Increment(ref _executing);
                        _ = ProcessRecordAsync(rented, payloadLength);
                    }
                    if (result.IsCompleted)
                        return;
                }
                finally
                {
                    reader.AdvanceTo(buffer.Start, buffer.End);
                }
            }
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Waits until this connection may read another call: its unwritten replies are under the per-connection bound,
    /// and either the server's total is under its bound or this connection has nothing unwritten (so connections
    /// whose peers read their replies are never held up by one whose peer does not).
    /// </summary>
    private async ValueTask WaitForReplyRoomAsync()
    {
        while (true)
        {
            long own = QueuedReplyBytes;
            if (own == 0 || (own < _options.MaxQueuedReplyBytesPerConnection && _server.QueuedReplyBytes < _options.MaxQueuedReplyBytes))
                return;
            await _replyRoom.WaitAsync(Closed).ConfigureAwait(false);
        }
    }

    private async Task ProcessRecordAsync(byte[] rented, int length)
    {
        XdrWriter? reply = null;
        bool queued = false;
        try
        {
            var header = ParseHeader(rented.AsMemory(0, length), out var call, out reply);
            if (header == HeaderOutcome.Dispatch)
                reply = await DispatchAsync(call!).ConfigureAwait(false);
            if (reply is not null)
            {
                queued = Enqueue(reply);
                reply = null;
            }
        }
        catch (OperationCanceledException) when (Closed.IsCancellationRequested)
        {
            // The connection is closing: a call cut short has no one to answer to.
        }
        finally
        {
            reply?.Dispose();
            ArrayPool<byte>.Shared.Return(rented);
            if (!queued)
                _callSlots.Release(); // otherwise the writer releases it once the reply is written
            Interlocked.Decrement(ref _executing);
            CallFinished();
        }
    }

    /// <summary>Queues a reply for the writer, counting its buffer against the bounds; false (and disposed) if the connection is closing.</summary>
    private bool Enqueue(XdrWriter reply)
    {
        long bytes = reply.Capacity;
        Interlocked.Add(ref _queuedReplyBytes, bytes);
        _server.AddQueuedReplyBytes(bytes);
        if (_outgoing.Writer.TryWrite(new Outgoing(reply, IsCall: false)))
            return true;
        Interlocked.Add(ref _queuedReplyBytes, -bytes);
        _server.AddQueuedReplyBytes(-bytes);
        reply.Dispose();
        return false;
    }

    /// <summary>A record left the queue, written or not: a call's buffer is freed; a reply also gives back its slot and accounting.</summary>
    private void Written(Outgoing item)
    {
        if (item.IsCall)
            item.Buffer.Dispose();
        else
            ReplyDone(item.Buffer);
    }

    /// <summary>A queued reply is written (or will never be): its memory, its accounting and its call slot go back.</summary>
    private void ReplyDone(XdrWriter reply)
    {
        long bytes = reply.Capacity;
        reply.Dispose();
        Interlocked.Add(ref _queuedReplyBytes, -bytes);
        _server.AddQueuedReplyBytes(-bytes);
        _callSlots.Release();
        if (_replyRoom.CurrentCount == 0)
        {
            try
            {
                _replyRoom.Release();
            }
            catch (SemaphoreFullException)
            {
                // another writer-side release got there first: one wake-up is enough
            }
        }
    }

    private enum HeaderOutcome
    {
        Dispatch,
        Answered,
        Dropped,
    }

    /// <summary>
    /// Decodes the call header synchronously (ref structs cannot cross an await). Returns Dispatch with the call, or
    /// Answered with a finished rejection, or Dropped when not even the xid could be read.
    /// </summary>
    private HeaderOutcome ParseHeader(ReadOnlyMemory<byte> record, out RpcCall? call, out XdrWriter? reply)
    {
        call = null;
        reply = null;
        var r = new XdrReader(record.Span);
        if (r.Remaining < 8)
        {
            if (_server.Warnings.ShouldLog(RemoteEndPoint))
                Log.BadCallHeader(_logger, Id, RemoteEndPoint, $"record of {record.Length} bytes");
            return HeaderOutcome.Dropped;
        }
        uint xid = r.ReadUInt32();
        uint type = r.ReadUInt32();
        if (type == (uint)MsgType.Reply)
        {
            // Unreachable: the read loop routes every REPLY (RouteReply). Kept as a safety net.
            Log.UnexpectedReply(_logger, Id, xid);
            return HeaderOutcome.Dropped;
        }
        if (type != (uint)MsgType.Call)
        {
            if (_server.Warnings.ShouldLog(RemoteEndPoint))
                Log.BadCallHeader(_logger, Id, RemoteEndPoint, $"message type {type}");
            return HeaderOutcome.Dropped;
        }

        try
        {
            uint rpcVersion = r.ReadUInt32();
            if (rpcVersion != RpcVersion)
            {
                Log.CallRejected(_logger, Id, $"RPC version {rpcVersion}", xid);
                reply = RpcReplies.Denied(xid, RejectStat.RpcMismatch, RpcVersion, RpcVersion);
                _server.Metrics.Denied(RejectStat.RpcMismatch);
                return HeaderOutcome.Answered;
            }
            uint program = r.ReadUInt32();
            uint version = r.ReadUInt32();
            uint procedure = r.ReadUInt32();
            var flavor = (AuthFlavor)r.ReadUInt32();
            var credBody = r.ReadOpaque(RpcCredentials.MaxAuthBody);
            r.ReadUInt32(); // verifier flavor: AUTH_NONE and AUTH_SYS carry no verifier we check
            r.ReadOpaque(RpcCredentials.MaxAuthBody);

            RpcCredentials credentials;
            switch (flavor)
            {
                case AuthFlavor.None:
                    credentials = RpcCredentials.None;
                    break;
                case AuthFlavor.Sys:
                    try
                    {
                        credentials = ReadAuthSys(credBody);
                    }
                    catch (XdrException ex)
                    {
                        Log.CallRejected(_logger, Id, $"bad AUTH_SYS credential: {ex.Message}", xid);
                        reply = RpcReplies.Denied(xid, AuthStat.BadCred);
                        _server.Metrics.Denied(RejectStat.AuthError);
                        return HeaderOutcome.Answered;
                    }
                    break;
                default:
                    // RFC 5531 §9: a flavor the server does not accept is AUTH_ERROR; AUTH_REJECTEDCRED asks for another.
                    Log.CallRejected(_logger, Id, $"auth flavor {(uint)flavor}", xid);
                    reply = RpcReplies.Denied(xid, AuthStat.RejectedCred);
                    _server.Metrics.Denied(RejectStat.AuthError);
                    return HeaderOutcome.Answered;
            }

            var target = _server.FindProgram(program);
            if (target is null)
            {
                reply = RpcReplies.Accepted(xid, AcceptStat.ProgUnavail);
                _server.Metrics.Call(program, AcceptStat.ProgUnavail);
                return HeaderOutcome.Answered;
            }
            if (version < target.LowVersion || version > target.HighVersion)
            {
                reply = RpcReplies.ProgMismatch(xid, target.LowVersion, target.HighVersion);
                _server.Metrics.Call(program, AcceptStat.ProgMismatch);
                return HeaderOutcome.Answered;
            }
            if (procedure == 0)
            {
                reply = RpcReplies.Accepted(xid, AcceptStat.Success); // NULL: every program has it, and it does nothing
                _server.Metrics.Call(program, AcceptStat.Success);
                return HeaderOutcome.Answered;
            }
            call = new RpcCall(xid, program, version, procedure, credentials, record[r.Position..], this);
            return HeaderOutcome.Dispatch;
        }
        catch (XdrException ex)
        {
            if (_server.Warnings.ShouldLog(RemoteEndPoint))
                Log.BadCallHeader(_logger, Id, RemoteEndPoint, ex.Message);
            reply = RpcReplies.Accepted(xid, AcceptStat.GarbageArgs);
            _server.Metrics.Call(uint.MaxValue, AcceptStat.GarbageArgs); // the header did not decode: no program to name
            return HeaderOutcome.Answered;
        }
    }

    /// <summary>The last AUTH_SYS credential decoded on this connection, with its body: a peer sends the same one again and again.</summary>
    private sealed record DecodedCredential(byte[] Body, RpcCredentials Credentials);

    private DecodedCredential? _lastCredential;

    /// <summary>Decodes an AUTH_SYS body, or reuses the last one when the bytes are the same; throws <see cref="XdrException"/> if malformed.</summary>
    private RpcCredentials ReadAuthSys(ReadOnlySpan<byte> body)
    {
        if (Volatile.Read(ref _lastCredential) is { } last && body.SequenceEqual(last.Body))
            return last.Credentials;
        var credentials = RpcCredentials.ReadAuthSys(body);
        Volatile.Write(ref _lastCredential, new DecodedCredential(body.ToArray(), credentials));
        return credentials;
    }

    private async ValueTask<XdrWriter> DispatchAsync(RpcCall call)
    {
        var program = _server.FindProgram(call.Program)!;
        var reply = RpcReplies.BeginSuccess(call.Xid, out int statusAt);
        int resultsAt = reply.Position;
        AcceptStat status;
        try
        {
            status = await program.HandleAsync(call, reply, Closed).ConfigureAwait(false);
        }
        catch (XdrException ex)
        {
            if (_server.Warnings.ShouldLog(RemoteEndPoint))
                Log.GarbageArgs(_logger, Id, RemoteEndPoint, call.Program, call.Version, call.Procedure, call.Xid, ex.Message);
            status = AcceptStat.GarbageArgs;
        }
        catch (OperationCanceledException) when (Closed.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            // Our bug, not the peer's fault; still rate-limited per peer, since one peer can trigger it at will.
            if (_server.Warnings.ShouldLog(RemoteEndPoint))
                Log.HandlerFailed(_logger, ex, Id, call.Program, call.Version, call.Procedure, call.Xid);
            status = AcceptStat.SystemErr;
        }
        if (status != AcceptStat.Success)
        {
            reply.Truncate(resultsAt);
            if (status == AcceptStat.ProgMismatch)
                status = AcceptStat.SystemErr; // only the server knows the version range; a program cannot answer this
        }
        reply.PatchUInt32(statusAt, (uint)status);
        RpcReplies.Finish(reply);
        _server.Metrics.Call(call.Program, status);
        return reply;
    }

    /// <summary>A burst is written with one flush; this caps the bytes copied into the pipe per flush.</summary>
    private const int MaxBurstBytes = 256 * 1024;

    /// <summary>The output pipe's segment size: a burst of replies up to this size goes out in one send call.</summary>
    private const int OutputSegmentBytes = 64 * 1024;

    private async Task WriteLoopAsync()
    {
        // Segments as large as the read side's: the pipe sends each segment with a write of its own, so with the default
        // 4 KiB a reply of 4 KiB of data plus headers (a 4 KiB READ) took two send calls and two TCP segments.
        var output = PipeWriter.Create(_stream, new StreamPipeWriterOptions(minimumBufferSize: OutputSegmentBytes, leaveOpen: true));
        List<Outgoing> burst = [];
        try
        {
            var replies = _outgoing.Reader;
            while (await replies.WaitToReadAsync().ConfigureAwait(false))
            {
                // Write the replies that are ready, then flush once: one syscall for a burst of small replies. Their
                // slots and accounting are given back only once the flush is done, so unwritten replies stay bounded.
                int bytes = 0;
                bool completed = false;
                while (bytes < MaxBurstBytes && replies.TryRead(out var item))
                {
                    burst.Add(item);
                    bytes += item.Buffer.Position;
                    if (item.Buffer.Position <= OutputSegmentBytes)
                    {
                        output.Write(item.Buffer.WrittenSpan);
                        continue;
                    }
                    // A large record (a big READ reply) goes to the socket from its own buffer in one write, after what is
                    // buffered before it: copied into the pipe it would cost a copy and a send call per 64 KiB segment.
                    completed |= (await output.FlushAsync(Closed).ConfigureAwait(false)).IsCompleted;
                    await _stream.WriteAsync(item.Buffer.WrittenMemory, Closed).ConfigureAwait(false);
                }
                var flushed = await output.FlushAsync(Closed).ConfigureAwait(false);
                completed |= flushed.IsCompleted;
                Touch();
                foreach (var written in burst)
                    Written(written);
                burst.Clear();
                if (completed)
                    break;
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The peer went away or the server is stopping: the read side ends the connection.
            await _closed.CancelAsync().ConfigureAwait(false);
        }
        finally
        {
            foreach (var unsent in burst)
                Written(unsent);
            try
            {
                // Completing without an exception flushes what is buffered, with no way to cancel it: on a connection
                // being closed (server stop, idle, making room) whose peer does not read, that write would block until
                // the peer read, so the connection would never end. Completing with one discards the buffer instead.
                await output.CompleteAsync(Closed.IsCancellationRequested ? new OperationCanceledException(Closed) : null).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
            {
                // the peer is gone: nothing more to say to it
            }
        }
    }

    private void CallFinished()
    {
        if (Interlocked.Decrement(ref _callsRunning) == 0)
            _callsDrained.TrySetResult();
    }

    public async ValueTask DisposeAsync()
    {
        await _closed.CancelAsync().ConfigureAwait(false);
        await _stream.DisposeAsync().ConfigureAwait(false);
        _closed.Dispose();
        _callSlots.Dispose();
        _replyRoom.Dispose();
    }
}
