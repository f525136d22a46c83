using System.Buffers.Binary;
using System.Net;
using Leasehold.Rpc.Messages;
using Leasehold.Rpc.Server;
using Leasehold.Rpc.Xdr;
using Leasehold.Testing;

namespace Leasehold.Rpc.Tests;

/// <summary>
/// <see cref="IRpcConnection.CallAsync"/>: the server sends a CALL on a connection a real TCP peer on 127.0.0.1 opened,
/// and the peer (<see cref="RpcTestClient"/>) answers it, answers out of order, never answers, or closes.
/// </summary>
public sealed class ServerCallTests : IAsyncDisposable
{
    private const uint Program = 400_200;       // the server's program, which the peer calls to hand over its connection
    private const uint PeerProgram = 400_201;   // the program the peer serves (as an NFSv4.1 client serves callbacks)
    private const uint Hello = 1;               // stores the connection and answers at once
    private const uint CallBack = 2;            // calls the peer back on the same connection and answers with its results
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    private readonly ConnectionCatcher _program = new();
    private readonly ManualTimeProvider _clock = new();
    private RpcServer? _server;

    private async Task<(RpcTestClient Peer, RpcConnection Connection)> StartAsync(RpcOptions? options = null)
    {
        _server = new RpcServer([_program], options ?? new RpcOptions(), time: _clock);
        _server.Start(new IPEndPoint(IPAddress.Loopback, 0));
        var peer = await RpcTestClient.ConnectAsync(_server.LocalEndPoint!);
        var reply = RpcReplyReader.Read(await peer.CallAsync(RpcTestClient.BuildCall(peer.NextXid(), Program, 1, Hello)));
        Assert.Equal(RpcCallStatus.Replied, reply.Status);
        return (peer, (RpcConnection)await _program.Connection.WaitAsync(Bound));
    }

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
            await _server.DisposeAsync();
    }

    private static ValueTask<RpcCallOutcome> Call(RpcConnection connection, uint procedure, uint argument, RpcCredentials? credentials = null,
        TimeSpan? timeout = null) =>
        connection.CallAsync(PeerProgram, 1, procedure, credentials ?? RpcCredentials.None, argument,
            static (w, a) => w.WriteUInt32(a), timeout ?? Bound);

    [Fact]
    public async Task CallReachesPeerWithCredentials()
    {
        var (peer, connection) = await StartAsync();
        await using var disposePeer = peer;
        var credentials = new RpcCredentials(AuthFlavor.Sys, 1000, 100, [4, 24], "leasehold") { Stamp = 77 };

        var outcome = connection.CallAsync(PeerProgram, 4, 9, credentials, "argument",
            static (w, s) => w.WriteString(s), Bound);
        var call = PeerCall.Parse(await peer.NextCallAsync());

        Assert.Equal((2u, PeerProgram, 4u, 9u), (call.RpcVersion, call.Program, call.Version, call.Procedure));
        Assert.Equal(AuthFlavor.Sys, call.Flavor);
        var received = RpcCredentials.ReadAuthSys(call.CredentialBody);
        Assert.Equal((77u, "leasehold", 1000u, 100u), (received.Stamp, received.MachineName, received.Uid, received.Gid));
        Assert.Equal([4u, 24u], received.Groups);
        Assert.Equal("argument", new XdrReader(call.Arguments).ReadString(100));

        await peer.SendRecordAsync(PeerCall.Accepted(call.Xid, AcceptStat.Success, 0xCAFE));
        var result = await outcome.AsTask().WaitAsync(Bound);
        Assert.Equal(RpcCallStatus.Replied, result.Status);
        Assert.Equal(0xCAFEu, new XdrReader(result.Results).ReadUInt32());
        Assert.Equal(0, connection.PendingCallCount);
    }

    [Fact]
    public async Task RepliesMatchedOutOfOrder()
    {
        var (peer, connection) = await StartAsync();
        await using var disposePeer = peer;

        var first = Call(connection, 1, 111);
        var second = Call(connection, 1, 222);
        var a = PeerCall.Parse(await peer.NextCallAsync());
        var b = PeerCall.Parse(await peer.NextCallAsync());
        Assert.NotEqual(a.Xid, b.Xid);

        await peer.SendRecordAsync(PeerCall.Accepted(b.Xid, AcceptStat.Success, new XdrReader(b.Arguments).ReadUInt32() + 1));
        var secondResult = await second.AsTask().WaitAsync(Bound);
        Assert.False(first.IsCompleted);
        await peer.SendRecordAsync(PeerCall.Accepted(a.Xid, AcceptStat.Success, new XdrReader(a.Arguments).ReadUInt32() + 1));
        var firstResult = await first.AsTask().WaitAsync(Bound);

        Assert.Equal(112u, new XdrReader(firstResult.Results).ReadUInt32());
        Assert.Equal(223u, new XdrReader(secondResult.Results).ReadUInt32());
    }

    [Fact]
    public async Task TimeoutOnManualClockDropsLateReply()
    {
        var (peer, connection) = await StartAsync();
        await using var disposePeer = peer;
        int timers = _clock.ActiveTimers;

        var outcome = Call(connection, 1, 5, timeout: TimeSpan.FromSeconds(3));
        var call = PeerCall.Parse(await peer.NextCallAsync());
        await WaitUntilAsync(() => _clock.ActiveTimers > timers, "the call's timeout armed");
        _clock.Advance(TimeSpan.FromSeconds(2));
        Assert.False(outcome.IsCompleted);
        _clock.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(RpcCallStatus.TimedOut, (await outcome.AsTask().WaitAsync(Bound)).Status);
        Assert.Equal(0, connection.PendingCallCount);

        // The late reply is dropped, and the connection goes on: the next call is answered and matched.
        await peer.SendRecordAsync(PeerCall.Accepted(call.Xid, AcceptStat.Success, 1));
        var next = Call(connection, 1, 6);
        var nextCall = PeerCall.Parse(await peer.NextCallAsync());
        await peer.SendRecordAsync(PeerCall.Accepted(nextCall.Xid, AcceptStat.Success, 2));
        var nextResult = await next.AsTask().WaitAsync(Bound);
        Assert.Equal(RpcCallStatus.Replied, nextResult.Status);
        Assert.Equal(2u, new XdrReader(nextResult.Results).ReadUInt32());
        Assert.Equal(0, connection.PendingCallCount);
    }

    [Fact]
    public async Task PeerCloseCompletesPendingCallsClosed()
    {
        var (peer, connection) = await StartAsync();

        var first = Call(connection, 1, 1);
        var second = Call(connection, 1, 2);
        await peer.NextCallAsync();
        await peer.NextCallAsync();
        await peer.DisposeAsync();

        Assert.Equal(RpcCallStatus.Closed, (await first.AsTask().WaitAsync(Bound)).Status);
        Assert.Equal(RpcCallStatus.Closed, (await second.AsTask().WaitAsync(Bound)).Status);
        Assert.Equal(0, connection.PendingCallCount);
        Assert.Equal(RpcCallStatus.Closed, (await Call(connection, 1, 3).AsTask().WaitAsync(Bound)).Status);
    }

    [Fact]
    public async Task NoPendingCallLeftAfterDispose()
    {
        var (peer, connection) = await StartAsync();
        await using var disposePeer = peer;

        var pending = Call(connection, 1, 1, timeout: Timeout.InfiniteTimeSpan);
        await peer.NextCallAsync();
        await _server!.DisposeAsync();

        Assert.Equal(RpcCallStatus.Closed, (await pending.AsTask().WaitAsync(Bound)).Status);
        Assert.Equal(0, connection.PendingCallCount);
    }

    [Fact]
    public async Task ReplyRoutedWhileCallSlotsFull()
    {
        // The peer's one call slot is held by a call whose handler waits for the peer's answer to a call back:
        // the answer must reach it without a slot, or the two wait for each other forever.
        var (peer, unused) = await StartAsync(new RpcOptions { MaxCallsInFlightPerConnection = 1 });
        await using var disposePeer = peer;

        uint xid = peer.NextXid();
        var reply = peer.Expect(xid);
        await peer.SendRecordAsync(RpcTestClient.BuildCall(xid, Program, 1, CallBack, w => w.WriteUInt32(41)));
        var call = PeerCall.Parse(await peer.NextCallAsync());
        await peer.SendRecordAsync(PeerCall.Accepted(call.Xid, AcceptStat.Success, new XdrReader(call.Arguments).ReadUInt32() + 1));

        var answer = RpcReplyReader.Read(await reply.WaitAsync(Bound));
        Assert.Equal(RpcCallStatus.Replied, answer.Status);
        var words = new XdrReader(answer.Results);
        Assert.Equal(((uint)RpcCallStatus.Replied, 42u), (words.ReadUInt32(), words.ReadUInt32()));
    }

    [Fact]
    public async Task OutgoingCallsBeyondTheLimitAreRefusedUnsent()
    {
        var (peer, connection) = await StartAsync(new RpcOptions { MaxOutgoingCallsPerConnection = 1 });
        await using var disposePeer = peer;

        var first = Call(connection, 1, 1);
        var call = PeerCall.Parse(await peer.NextCallAsync());
        Assert.Equal(RpcCallStatus.Refused, (await Call(connection, 1, 2).AsTask().WaitAsync(Bound)).Status);

        await peer.SendRecordAsync(PeerCall.Accepted(call.Xid, AcceptStat.Success, 7));
        Assert.Equal(RpcCallStatus.Replied, (await first.AsTask().WaitAsync(Bound)).Status);
        Assert.False(peer.Calls.TryRead(out _)); // the refused call was never sent

        var third = Call(connection, 1, 3); // room again
        var thirdCall = PeerCall.Parse(await peer.NextCallAsync());
        Assert.Equal(3u, new XdrReader(thirdCall.Arguments).ReadUInt32());
        await peer.SendRecordAsync(PeerCall.Accepted(thirdCall.Xid, AcceptStat.Success, 8));
        Assert.Equal(RpcCallStatus.Replied, (await third.AsTask().WaitAsync(Bound)).Status);
    }

    [Fact]
    public async Task RejectionsAreValues()
    {
        var (peer, connection) = await StartAsync();
        await using var disposePeer = peer;

        var unavailable = Call(connection, 1, 1);
        var denied = Call(connection, 1, 2);
        var garbled = Call(connection, 1, 3);
        var a = PeerCall.Parse(await peer.NextCallAsync());
        var b = PeerCall.Parse(await peer.NextCallAsync());
        var c = PeerCall.Parse(await peer.NextCallAsync());
        await peer.SendRecordAsync(PeerCall.Accepted(a.Xid, AcceptStat.ProcUnavail));
        await peer.SendRecordAsync(PeerCall.Words(b.Xid, 1, (uint)ReplyStat.MsgDenied, (uint)RejectStat.AuthError, (uint)AuthStat.TooWeak));
        await peer.SendRecordAsync(PeerCall.Words(c.Xid, 1, 9)); // reply_stat 9 does not exist

        var x = await unavailable.AsTask().WaitAsync(Bound);
        Assert.Equal((RpcCallStatus.NotAccepted, AcceptStat.ProcUnavail), (x.Status, x.AcceptStat));
        Assert.True(x.Results.IsEmpty);
        var y = await denied.AsTask().WaitAsync(Bound);
        Assert.Equal((RpcCallStatus.Denied, RejectStat.AuthError, AuthStat.TooWeak), (y.Status, y.RejectStat, y.AuthStat));
        Assert.Equal(RpcCallStatus.Malformed, (await garbled.AsTask().WaitAsync(Bound)).Status);
    }

    [Fact]
    public async Task ReplyInSeveralFragmentsIsRouted()
    {
        var (peer, connection) = await StartAsync();
        await using var disposePeer = peer;

        var outcome = Call(connection, 1, 1);
        var call = PeerCall.Parse(await peer.NextCallAsync());
        var record = PeerCall.Accepted(call.Xid, AcceptStat.Success, 99);
        // A first fragment of 6 bytes: the msg_type straddles two fragments.
        var bytes = new byte[4 + 6 + 4 + (record.Length - 6)];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, 6);
        record.AsSpan(0, 6).CopyTo(bytes.AsSpan(4));
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(10), 0x8000_0000u | (uint)(record.Length - 6));
        record.AsSpan(6).CopyTo(bytes.AsSpan(14));
        await peer.SendRawAsync(bytes);

        var result = await outcome.AsTask().WaitAsync(Bound);
        Assert.Equal(RpcCallStatus.Replied, result.Status);
        Assert.Equal(99u, new XdrReader(result.Results).ReadUInt32());
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var until = DateTime.UtcNow + Bound;
        while (!condition())
        {
            if (DateTime.UtcNow > until)
                throw new TimeoutException($"expected {what}");
            await Task.Yield();
        }
    }

    /// <summary>The server's program: hands the test the connection it was called on, and calls the peer back on it.</summary>
    private sealed class ConnectionCatcher : IRpcProgram
    {
        private readonly TaskCompletionSource<IRpcConnection> _connection = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public uint Program => ServerCallTests.Program;

        public uint LowVersion => 1;

        public uint HighVersion => 1;

        public Task<IRpcConnection> Connection => _connection.Task;

        public async ValueTask<AcceptStat> HandleAsync(RpcCall call, XdrWriter results, CancellationToken cancellationToken)
        {
            switch (call.Procedure)
            {
                case Hello:
                    _connection.TrySetResult(call.Connection);
                    return AcceptStat.Success;
                case CallBack:
                    uint argument = new XdrReader(call.Arguments.Span).ReadUInt32();
                    var outcome = await call.Connection.CallAsync(PeerProgram, 1, 1, RpcCredentials.None, argument,
                        static (w, a) => w.WriteUInt32(a), Bound, cancellationToken);
                    results.WriteUInt32((uint)outcome.Status);
                    if (outcome.Status == RpcCallStatus.Replied)
                        results.WriteUInt32(new XdrReader(outcome.Results).ReadUInt32());
                    return AcceptStat.Success;
                default:
                    return AcceptStat.ProcUnavail;
            }
        }
    }

    /// <summary>A CALL the server sent, as the peer decodes it, and the replies the peer builds.</summary>
    private sealed record PeerCall(uint Xid, uint RpcVersion, uint Program, uint Version, uint Procedure, AuthFlavor Flavor,
        byte[] CredentialBody, byte[] Arguments)
    {
        public static PeerCall Parse(byte[] record)
        {
            var r = new XdrReader(record);
            uint xid = r.ReadUInt32();
            Assert.Equal((uint)MsgType.Call, r.ReadUInt32());
            uint rpcVersion = r.ReadUInt32(), program = r.ReadUInt32(), version = r.ReadUInt32(), procedure = r.ReadUInt32();
            var flavor = (AuthFlavor)r.ReadUInt32();
            var body = r.ReadOpaque(400).ToArray();
            Assert.Equal((uint)AuthFlavor.None, r.ReadUInt32()); // verifier
            Assert.Equal(0, r.ReadOpaque(400).Length);
            return new PeerCall(xid, rpcVersion, program, version, procedure, flavor, body, r.Rest.ToArray());
        }

        /// <summary>MSG_ACCEPTED with a null verifier, the accept_stat, then the given words as results.</summary>
        public static byte[] Accepted(uint xid, AcceptStat status, params uint[] results) =>
            Words([xid, (uint)MsgType.Reply, (uint)ReplyStat.MsgAccepted, 0, 0, (uint)status, .. results]);

        public static byte[] Words(params uint[] words)
        {
            var bytes = new byte[words.Length * 4];
            for (int i = 0; i < words.Length; i++)
                BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(i * 4), words[i]);
            return bytes;
        }
    }
}
