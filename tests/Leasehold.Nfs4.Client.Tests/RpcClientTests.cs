using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Leasehold.Nfs4.Client.Callbacks;
using Leasehold.Nfs4.Client.Rpc;
using Leasehold.Rpc.Framing;
using Leasehold.Rpc.Messages;
using Leasehold.Rpc.Xdr;
using Leasehold.Testing;

namespace Leasehold.Nfs4.Client.Tests;

/// <summary>A scripted server on 127.0.0.1, port 0: reads the client's records and writes whatever a test says.</summary>
internal sealed class FakeServer : IAsyncDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private NetworkStream? _stream;

    public FakeServer() => _listener.Start();

    public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndpoint;

    public async Task AcceptAsync() => _stream = new NetworkStream(await _listener.AcceptSocketAsync().WaitAsync(Bound), ownsSocket: true);

    /// <summary>One record, record mark removed (single-fragment records only: that is what the client sends).</summary>
    public async Task<byte[]> ReadRecordAsync()
    {
        var mark = new byte[4];
        await _stream!.ReadExactlyAsync(mark).AsTask().WaitAsync(Bound);
        uint header = BinaryPrimitives.ReadUInt32BigEndian(mark);
        Assert.True((header & 0x8000_0000) != 0);
        var body = new byte[header & 0x7FFF_FFFF];
        await _stream.ReadExactlyAsync(body).AsTask().WaitAsync(Bound);
        return body;
    }

    public async Task SendRecordAsync(ReadOnlyMemory<byte> payload)
    {
        var mark = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(mark, RecordMarkScanner.LastFragmentMark(payload.Length));
        await _stream!.WriteAsync(mark);
        await _stream.WriteAsync(payload);
    }

    /// <summary>An accepted SUCCESS reply to <paramref name="xid"/> with the given results.</summary>
    public static byte[] Success(uint xid, Action<XdrWriter> results)
    {
        using var w = RpcReplies.BeginSuccess(xid, out _);
        results(w);
        return w.WrittenSpan[4..].ToArray();
    }

    public void Close() => _stream?.Dispose();

    public ValueTask DisposeAsync()
    {
        _stream?.Dispose();
        _listener.Stop();
        _listener.Dispose();
        return ValueTask.CompletedTask;
    }
}

public sealed class RpcClientTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    private static uint Xid(byte[] record) => BinaryPrimitives.ReadUInt32BigEndian(record);

    [Fact]
    public async Task Replies_are_matched_by_xid_whatever_their_order()
    {
        await using var server = new FakeServer();
        var accept = server.AcceptAsync();
        await using var client = await RpcClient.ConnectAsync(server.EndPoint);
        await accept;

        var first = client.CallAsync(7, 1, 1, RpcAuth.Sys(1, 2, [3], "m"), new byte[] { 0, 0, 0, 1 });
        var second = client.CallAsync(7, 1, 1, RpcAuth.None, new byte[] { 0, 0, 0, 2 });
        var r1 = await server.ReadRecordAsync();
        var r2 = await server.ReadRecordAsync();

        // The call header (RFC 5531 §9): xid, CALL, rpcvers 2, prog, vers, proc, cred, verf, then args.
        var r = new XdrReader(r1);
        r.ReadUInt32();
        Assert.Equal((0u, 2u, 7u, 1u, 1u), (r.ReadUInt32(), r.ReadUInt32(), r.ReadUInt32(), r.ReadUInt32(), r.ReadUInt32()));
        Assert.Equal((uint)AuthFlavor.Sys, r.ReadUInt32());
        var cred = RpcCredentials.ReadAuthSys(r.ReadOpaque(400));
        Assert.Equal((1u, 2u, "m"), (cred.Uid, cred.Gid, cred.MachineName));
        Assert.Equal([3u], cred.Groups);
        Assert.Equal(0u, r.ReadUInt32());
        r.ReadOpaque(400);
        Assert.Equal(1u, r.ReadUInt32());

        await server.SendRecordAsync(FakeServer.Success(Xid(r2), w => w.WriteUInt32(22)));
        await server.SendRecordAsync(FakeServer.Success(Xid(r1), w => w.WriteUInt32(11)));
        Assert.Equal(22u, BinaryPrimitives.ReadUInt32BigEndian((await second.WaitAsync(Bound)).Results));
        Assert.Equal(11u, BinaryPrimitives.ReadUInt32BigEndian((await first.WaitAsync(Bound)).Results));
        Assert.Equal(0, client.PendingCalls);
    }

    [Fact]
    public async Task A_denied_call_throws_rpc_exception_with_the_reason()
    {
        await using var server = new FakeServer();
        var accept = server.AcceptAsync();
        await using var client = await RpcClient.ConnectAsync(server.EndPoint);
        await accept;
        var call = client.CallAsync(7, 1, 1, RpcAuth.None, ReadOnlyMemory<byte>.Empty);
        var record = await server.ReadRecordAsync();
        using (var denied = RpcReplies.Denied(Xid(record), AuthStat.TooWeak))
            await server.SendRecordAsync(denied.WrittenMemory[4..]);
        var ex = await Assert.ThrowsAsync<RpcException>(() => call.WaitAsync(Bound));
        Assert.Equal(AuthStat.TooWeak, ex.AuthStat);
    }

    [Fact]
    public async Task A_call_without_reply_times_out_on_the_injected_clock()
    {
        var clock = new ManualTimeProvider();
        await using var server = new FakeServer();
        var accept = server.AcceptAsync();
        await using var client = await RpcClient.ConnectAsync(server.EndPoint,
            new RpcClientOptions { CallTimeout = TimeSpan.FromSeconds(5), TimeProvider = clock });
        await accept;
        var call = client.CallAsync(7, 1, 1, RpcAuth.None, ReadOnlyMemory<byte>.Empty);
        await server.ReadRecordAsync(); // the call is out, so its timer exists
        clock.Advance(TimeSpan.FromSeconds(4));
        Assert.False(call.IsCompleted);
        clock.Advance(TimeSpan.FromSeconds(2));
        await Assert.ThrowsAsync<TimeoutException>(() => call.WaitAsync(Bound));
        Assert.Equal(0, client.PendingCalls);
    }

    [Fact]
    public async Task Pending_calls_fail_when_the_server_closes_the_connection()
    {
        await using var server = new FakeServer();
        var accept = server.AcceptAsync();
        await using var client = await RpcClient.ConnectAsync(server.EndPoint);
        await accept;
        var call = client.CallAsync(7, 1, 1, RpcAuth.None, ReadOnlyMemory<byte>.Empty);
        await server.ReadRecordAsync();
        server.Close();
        await Assert.ThrowsAsync<IOException>(() => call.WaitAsync(Bound));
        await client.Completion.WaitAsync(Bound);
        Assert.Equal(RpcClientState.Closed, client.State);
        await Assert.ThrowsAsync<IOException>(() => client.CallAsync(7, 1, 1, RpcAuth.None, ReadOnlyMemory<byte>.Empty));
    }

    [Fact]
    public async Task Back_channel_cb_compound_with_sequence_and_recall_is_answered_and_recorded()
    {
        var handler = new RecordingCallbackHandler();
        await using var server = new FakeServer();
        var accept = server.AcceptAsync();
        await using var client = await RpcClient.ConnectAsync(server.EndPoint, callHandler: new CallbackProgram(0x40000000, handler));
        await accept;

        var session = new SessionId(0xABCDEF);
        var delegation = new StateId(1, 0x5151);
        using var call = new XdrWriter();
        call.WriteUInt32(0x77);                     // xid
        call.WriteUInt32((uint)MsgType.Call);
        call.WriteUInt32(2);
        call.WriteUInt32(0x40000000);               // cb_program from CREATE_SESSION
        call.WriteUInt32(1);                        // NFS_CB version 1
        call.WriteUInt32(1);                        // CB_COMPOUND
        call.WriteUInt32(0); call.WriteUInt32(0);   // cred AUTH_NONE
        call.WriteUInt32(0); call.WriteUInt32(0);   // verf
        call.WriteString("cbtag");
        call.WriteUInt32(1);                        // minorversion
        call.WriteUInt32(0);                        // callback_ident
        call.WriteUInt32(2);
        call.WriteUInt32((uint)CbOpcode.CbSequence);
        session.Write(call);
        call.WriteUInt32(1); call.WriteUInt32(0); call.WriteUInt32(0); call.WriteBool(false);
        call.WriteUInt32(0);                        // no referring call lists
        call.WriteUInt32((uint)CbOpcode.CbRecall);
        delegation.Write(call);
        call.WriteBool(false);
        call.WriteOpaque([9, 9, 9]);
        await server.SendRecordAsync(call.WrittenMemory);

        var reply = await server.ReadRecordAsync();
        var r = new XdrReader(reply);
        Assert.Equal((0x77u, (uint)MsgType.Reply, (uint)ReplyStat.MsgAccepted), (r.ReadUInt32(), r.ReadUInt32(), r.ReadUInt32()));
        r.ReadUInt32(); r.ReadOpaque(400);
        Assert.Equal((uint)AcceptStat.Success, r.ReadUInt32());
        Assert.Equal((uint)NfsStat4.Ok, r.ReadUInt32());
        Assert.Equal("cbtag", r.ReadString(100));
        Assert.Equal(2u, r.ReadUInt32());
        Assert.Equal(((uint)CbOpcode.CbSequence, 0u), (r.ReadUInt32(), r.ReadUInt32()));
        Assert.Equal(session, SessionId.Read(ref r));
        Assert.Equal((1u, 0u, 0u, 0u), (r.ReadUInt32(), r.ReadUInt32(), r.ReadUInt32(), r.ReadUInt32()));
        Assert.Equal(((uint)CbOpcode.CbRecall, 0u), (r.ReadUInt32(), r.ReadUInt32()));
        Assert.Equal(0, r.Remaining);

        var recall = await handler.Recalls.ReadAsync().AsTask().WaitAsync(Bound);
        Assert.Equal(delegation, recall.StateId);
        Assert.Equal(new FileHandle([9, 9, 9]), recall.FileHandle);
        Assert.Equal(1, handler.SequenceCount);
    }

    [Fact]
    public async Task Back_channel_cb_null_succeeds_and_an_unknown_program_is_unavailable()
    {
        var handler = new RecordingCallbackHandler();
        await using var server = new FakeServer();
        var accept = server.AcceptAsync();
        await using var client = await RpcClient.ConnectAsync(server.EndPoint, callHandler: new CallbackProgram(0x40000000, handler));
        await accept;

        foreach (var (xid, program) in new[] { (1u, 0x40000000u), (2u, 12345u) })
        {
            using var call = new XdrWriter();
            foreach (uint word in new[] { xid, 0u, 2u, program, 1u, 0u, 0u, 0u, 0u, 0u })
                call.WriteUInt32(word);
            await server.SendRecordAsync(call.WrittenMemory);
            var reply = await server.ReadRecordAsync();
            var r = new XdrReader(reply);
            Assert.Equal(xid, r.ReadUInt32());
            r.Skip(8);
            r.ReadUInt32(); r.ReadOpaque(400);
            Assert.Equal(program == 12345 ? (uint)AcceptStat.ProgUnavail : (uint)AcceptStat.Success, r.ReadUInt32());
            Assert.Equal(0, r.Remaining);
        }
        Assert.Equal(1, handler.NullCount);
    }
}
