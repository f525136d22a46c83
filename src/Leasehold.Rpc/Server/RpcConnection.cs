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
/// Threads: one read loop, one write loop, and one task per call in flight. Each record is copied out of the pipe
/// into a pooled buffer that lives until its call's reply is queued, so the read loop can move on to the next record
/// while earlier calls run. Nothing here knows what the calls mean.
/// </remarks>
internal sealed class RpcConnection : IRpcConnection, IAsyncDisposable
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
    private readonly Channel<XdrWriter> _replies = Channel.CreateUnbounded<XdrWriter>(new UnboundedChannelOptions { SingleReader = true, AllowSynchronousContinuations = true });
    private int _callsRunning;
    private readonly TaskCompletionSource _callsDrained = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public RpcConnection(long id, Stream stream, EndPoint? remote, RpcServer server, RpcOptions options, ILogger logger, CancellationToken serverStopping)
    {
        Id = id;
        _stream = stream;
        RemoteEndPoint = remote;
        _server = server;
        _options = options;
        _logger = logger;
        _closed = CancellationTokenSource.CreateLinkedTokenSource(serverStopping);
        _callSlots = new SemaphoreSlim(options.MaxCallsInFlightPerConnection, options.MaxCallsInFlightPerConnection);
    }

    public long Id { get; }

    public EndPoint? RemoteEndPoint { get; }

    public CancellationToken Closed => _closed.Token;

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
            // Let the calls already running finish and queue their replies, then close the write side.
            CallFinished(); // the read loop's own reference
            await _callsDrained.Task.ConfigureAwait(false);
            _replies.Writer.TryComplete();
            await writer.ConfigureAwait(false);
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
                            Log.BadRecord(_logger, Id, RemoteEndPoint, tooLarge ? "record too large" : "too many fragments",
                                tooLarge ? _options.MaxRecordSize : _options.MaxFragmentsPerRecord);
                            return;
                        }

                        var rented = ArrayPool<byte>.Shared.Rent(Math.Max(payloadLength, 1));
                        RecordMarkScanner.CopyPayload(buffer.Slice(0, consumed), rented);
                        buffer = buffer.Slice(consumed);
                        await _callSlots.WaitAsync(Closed).ConfigureAwait(false);
                        Interlocked.Increment(ref _callsRunning);
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

    private async Task ProcessRecordAsync(byte[] rented, int length)
    {
        XdrWriter? reply = null;
        try
        {
            var header = ParseHeader(rented.AsMemory(0, length), out var call, out reply);
            if (header == HeaderOutcome.Dispatch)
                reply = await DispatchAsync(call!).ConfigureAwait(false);
            if (reply is not null)
            {
                if (!_replies.Writer.TryWrite(reply))
                    reply.Dispose(); // connection closing: nobody will write it
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
            _callSlots.Release();
            CallFinished();
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
            Log.BadCallHeader(_logger, Id, RemoteEndPoint, $"record of {record.Length} bytes");
            return HeaderOutcome.Dropped;
        }
        uint xid = r.ReadUInt32();
        uint type = r.ReadUInt32();
        if (type == (uint)MsgType.Reply)
        {
            Log.UnexpectedReply(_logger, Id, xid);
            return HeaderOutcome.Dropped;
        }
        if (type != (uint)MsgType.Call)
        {
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
                        credentials = RpcCredentials.ReadAuthSys(credBody);
                    }
                    catch (XdrException ex)
                    {
                        Log.CallRejected(_logger, Id, $"bad AUTH_SYS credential: {ex.Message}", xid);
                        reply = RpcReplies.Denied(xid, AuthStat.BadCred);
                        return HeaderOutcome.Answered;
                    }
                    break;
                default:
                    // RFC 5531 §9: a flavor the server does not accept is AUTH_ERROR; AUTH_REJECTEDCRED asks for another.
                    Log.CallRejected(_logger, Id, $"auth flavor {(uint)flavor}", xid);
                    reply = RpcReplies.Denied(xid, AuthStat.RejectedCred);
                    return HeaderOutcome.Answered;
            }

            var target = _server.FindProgram(program);
            if (target is null)
            {
                reply = RpcReplies.Accepted(xid, AcceptStat.ProgUnavail);
                return HeaderOutcome.Answered;
            }
            if (version < target.LowVersion || version > target.HighVersion)
            {
                reply = RpcReplies.ProgMismatch(xid, target.LowVersion, target.HighVersion);
                return HeaderOutcome.Answered;
            }
            if (procedure == 0)
            {
                reply = RpcReplies.Accepted(xid, AcceptStat.Success); // NULL: every program has it, and it does nothing
                return HeaderOutcome.Answered;
            }
            call = new RpcCall(xid, program, version, procedure, credentials, record[r.Position..], this);
            return HeaderOutcome.Dispatch;
        }
        catch (XdrException ex)
        {
            Log.BadCallHeader(_logger, Id, RemoteEndPoint, ex.Message);
            reply = RpcReplies.Accepted(xid, AcceptStat.GarbageArgs);
            return HeaderOutcome.Answered;
        }
    }

    private async Task<XdrWriter> DispatchAsync(RpcCall call)
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
            Log.GarbageArgs(_logger, Id, call.Program, call.Version, call.Procedure, call.Xid, ex.Message);
            status = AcceptStat.GarbageArgs;
        }
        catch (OperationCanceledException) when (Closed.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
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
        return reply;
    }

    private async Task WriteLoopAsync()
    {
        var output = PipeWriter.Create(_stream, new StreamPipeWriterOptions(leaveOpen: true));
        try
        {
            var replies = _replies.Reader;
            while (await replies.WaitToReadAsync().ConfigureAwait(false))
            {
                // Write every reply that is ready, then flush once: one syscall for a burst of small replies.
                while (replies.TryRead(out var reply))
                {
                    using (reply)
                        output.Write(reply.WrittenSpan);
                }
                var flushed = await output.FlushAsync(Closed).ConfigureAwait(false);
                if (flushed.IsCompleted)
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
            while (_replies.Reader.TryRead(out var unsent))
                unsent.Dispose();
            await output.CompleteAsync().ConfigureAwait(false);
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
    }
}
