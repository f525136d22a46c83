using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using Leasehold.Rpc.Framing;
using Leasehold.Rpc.Messages;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Rpc.Server;

// Calls this side sends on the connection (IRpcConnection.CallAsync) and the routing of their replies.
//
// Invariant: an xid is in _pendingCalls from just before its record is queued until its reply is routed, its caller
// stops waiting (timeout, cancellation) or the connection ends, whichever comes first removes it; the remover
// completes it. Once _callsEnded is set no entry is added for long: CallAsync checks the flag after adding and
// removes its own entry, and CompletePendingCallsClosed sets the flag before sweeping (both with full fences), so
// every entry is either seen by the sweep or removed by its caller.
internal sealed partial class RpcConnection
{
    /// <summary>A record queued for the writer: a reply to the peer's call, or a call of our own.</summary>
    private readonly record struct Outgoing(XdrWriter Buffer, bool IsCall);

    // The reply record, or null when the connection ended first. Continuations run asynchronously, so the read loop
    // that routes a reply never runs the caller's code.
    private readonly ConcurrentDictionary<uint, TaskCompletionSource<byte[]?>> _pendingCalls = new();
    private uint _nextXid = (uint)Random.Shared.Next(); // the peer matches replies only against its own calls: our xids need not avoid its
    private int _outgoingCalls;
    private int _callsEnded;

    /// <summary>Calls sent and not yet answered, timed out or ended (for tests: nothing is left behind).</summary>
    internal int PendingCallCount => _pendingCalls.Count;

    public async ValueTask<RpcCallOutcome> CallAsync<TState>(uint program, uint version, uint procedure, RpcCredentials credentials,
        TState state, Action<XdrWriter, TState> writeArguments, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(credentials);
        ArgumentNullException.ThrowIfNull(writeArguments);
        if (timeout < TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "The timeout must be positive or infinite.");
        cancellationToken.ThrowIfCancellationRequested();
        if (CallsEnded)
            return RpcCallOutcome.Closed;
        if (Interlocked.Increment(ref _outgoingCalls) > _options.MaxOutgoingCallsPerConnection)
        {
            Interlocked.Decrement(ref _outgoingCalls);
            return RpcCallOutcome.Refused;
        }
        uint xid = 0;
        bool registered = false;
        try
        {
            var pending = new TaskCompletionSource<byte[]?>(TaskCreationOptions.RunContinuationsAsynchronously);
            var call = RpcCalls.Begin(0, program, version, procedure, credentials);
            try
            {
                writeArguments(call, state);
                RpcReplies.Finish(call);
                do
                {
                    xid = Interlocked.Increment(ref _nextXid);
                }
                while (!_pendingCalls.TryAdd(xid, pending)); // taken only after 2^32 calls with one never answered
                registered = true;
                call.PatchUInt32(4, xid);
            }
            catch
            {
                call.Dispose();
                throw;
            }
            // Re-check after registering: a sweep that started before the TryAdd may not have seen the entry.
            if (CallsEnded || !_outgoing.Writer.TryWrite(new Outgoing(call, IsCall: true)))
            {
                call.Dispose();
                return RpcCallOutcome.Closed;
            }
            Log.CallSent(_logger, Id, xid, program, version, procedure);

            byte[]? record;
            try
            {
                record = await pending.Task.WaitAsync(timeout, _server.Time, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                Log.CallTimedOut(_logger, Id, xid, program, procedure, timeout);
                return RpcCallOutcome.TimedOut;
            }
            return record is null ? RpcCallOutcome.Closed : RpcReplyReader.Read(record);
        }
        finally
        {
            if (registered)
                _pendingCalls.TryRemove(xid, out _); // already gone unless we stopped waiting first
            Interlocked.Decrement(ref _outgoingCalls);
        }
    }

    private bool CallsEnded => Volatile.Read(ref _callsEnded) != 0 || IsClosing || Closed.IsCancellationRequested;

    /// <summary>The record is a REPLY (msg_type 1, RFC 5531 §9): it answers one of our calls, not the program's business.</summary>
    private static bool IsReply(in ReadOnlySequence<byte> record)
    {
        Span<byte> head = stackalloc byte[8];
        return RecordMarkScanner.PeekPayload(record, head) == 8 && BinaryPrimitives.ReadUInt32BigEndian(head[4..]) == (uint)MsgType.Reply;
    }

    /// <summary>Hands a REPLY to the call waiting for its xid; a late reply (after a timeout) or an unknown one is dropped.</summary>
    private void RouteReply(byte[] record)
    {
        uint xid = BinaryPrimitives.ReadUInt32BigEndian(record);
        if (_pendingCalls.TryRemove(xid, out var pending))
            pending.TrySetResult(record);
        else
            Log.UnexpectedReply(_logger, Id, xid);
    }

    /// <summary>The connection is ending: every call still waiting ends as Closed, and no new one is sent.</summary>
    private void CompletePendingCallsClosed()
    {
        Interlocked.Exchange(ref _callsEnded, 1);
        foreach (var xid in _pendingCalls.Keys)
        {
            if (_pendingCalls.TryRemove(xid, out var pending))
                pending.TrySetResult(null);
        }
    }
}
