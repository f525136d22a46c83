using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using Leasehold.Rpc.Messages;
using Leasehold.Rpc.Server;
using Leasehold.Rpc.Xdr;
using Leasehold.Testing;

namespace Leasehold.Rpc.Tests;

/// <summary>The real listener on 127.0.0.1, spoken to through raw record-marked TCP.</summary>
public sealed class RpcServerTests : IAsyncLifetime
{
    private const uint Program = 400_100;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    private readonly GatedProgram _program = new();
    private RpcServer _server = null!;

    public Task InitializeAsync()
    {
        _server = new RpcServer([_program], new RpcOptions { MaxRecordSize = 64 * 1024 });
        _server.Start(new IPEndPoint(IPAddress.Loopback, 0));
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private Task<RpcTestClient> ConnectAsync() => RpcTestClient.ConnectAsync(_server.LocalEndPoint!);

    [Fact]
    public async Task Null_procedure_succeeds_with_empty_results()
    {
        await using var client = await ConnectAsync();
        var reply = Reply.Parse(await client.CallAsync(RpcTestClient.BuildCall(7, Program, 1, 0)));
        Assert.Equal((7u, ReplyStat.MsgAccepted, AcceptStat.Success), (reply.Xid, reply.Stat, reply.Accept));
        Assert.Empty(reply.Body);
    }

    [Fact]
    public async Task Unknown_program_is_prog_unavail()
    {
        await using var client = await ConnectAsync();
        var reply = Reply.Parse(await client.CallAsync(RpcTestClient.BuildCall(8, 999_999, 1, 0)));
        Assert.Equal(AcceptStat.ProgUnavail, reply.Accept);
    }

    [Fact]
    public async Task Unsupported_version_is_prog_mismatch_with_the_supported_range()
    {
        await using var client = await ConnectAsync();
        var reply = Reply.Parse(await client.CallAsync(RpcTestClient.BuildCall(9, Program, 5, 1)));
        Assert.Equal(AcceptStat.ProgMismatch, reply.Accept);
        Assert.Equal([1u, 2u], reply.Words());
    }

    [Fact]
    public async Task Unknown_procedure_is_proc_unavail()
    {
        await using var client = await ConnectAsync();
        var reply = Reply.Parse(await client.CallAsync(RpcTestClient.BuildCall(10, Program, 1, 42)));
        Assert.Equal(AcceptStat.ProcUnavail, reply.Accept);
    }

    [Fact]
    public async Task Undecodable_arguments_are_garbage_args()
    {
        await using var client = await ConnectAsync();
        var call = RpcTestClient.BuildCall(11, Program, 1, GatedProgram.Echo, w => w.WriteUInt32(0)); // gate id, but no opaque after it
        Assert.Equal(AcceptStat.GarbageArgs, Reply.Parse(await client.CallAsync(call)).Accept);
    }

    [Fact]
    public async Task Handler_that_throws_is_system_err_and_the_connection_lives_on()
    {
        await using var client = await ConnectAsync();
        Assert.Equal(AcceptStat.SystemErr, Reply.Parse(await client.CallAsync(RpcTestClient.BuildCall(12, Program, 1, GatedProgram.Throw))).Accept);
        Assert.Equal(AcceptStat.Success, Reply.Parse(await client.CallAsync(RpcTestClient.BuildCall(13, Program, 1, 0))).Accept);
    }

    [Fact]
    public async Task Wrong_rpc_version_is_denied_with_rpc_mismatch()
    {
        await using var client = await ConnectAsync();
        var reply = Reply.Parse(await client.CallAsync(RpcTestClient.BuildCall(14, Program, 1, 0, rpcVersion: 3)));
        Assert.Equal((ReplyStat.MsgDenied, RejectStat.RpcMismatch), (reply.Stat, reply.Reject));
        Assert.Equal([2u, 2u], reply.Words());
    }

    [Fact]
    public async Task Unsupported_auth_flavor_is_denied_with_auth_error()
    {
        await using var client = await ConnectAsync();
        var reply = Reply.Parse(await client.CallAsync(RpcTestClient.BuildCall(15, Program, 1, 0, credFlavor: (uint)AuthFlavor.Dh, credBody: [1, 2, 3, 4])));
        Assert.Equal((ReplyStat.MsgDenied, RejectStat.AuthError), (reply.Stat, reply.Reject));
        Assert.Equal([(uint)AuthStat.RejectedCred], reply.Words());
    }

    [Fact]
    public async Task Malformed_auth_sys_credential_is_denied_as_bad_cred()
    {
        await using var client = await ConnectAsync();
        var reply = Reply.Parse(await client.CallAsync(RpcTestClient.BuildCall(16, Program, 1, 0, credFlavor: (uint)AuthFlavor.Sys, credBody: [0, 0, 0, 1])));
        Assert.Equal([(uint)AuthStat.BadCred], reply.Words());
    }

    [Fact]
    public async Task Auth_sys_identity_reaches_the_program()
    {
        await using var client = await ConnectAsync();
        var call = RpcTestClient.BuildCall(17, Program, 1, GatedProgram.WhoAmI, credFlavor: (uint)AuthFlavor.Sys, credBody: RpcTestClient.AuthSys(1000, 100, 4, 5));
        var reply = Reply.Parse(await client.CallAsync(call));
        Assert.Equal([1000u, 100u, 2u], reply.Words());
    }

    [Fact]
    public async Task Calls_on_one_connection_run_concurrently_and_replies_come_back_out_of_order()
    {
        await using var client = await ConnectAsync();
        var first = client.Expect(21);
        var second = client.Expect(22);
        await client.SendRecordAsync(GatedProgram.EchoCall(21, gate: 1, [1]));
        await client.SendRecordAsync(GatedProgram.EchoCall(22, gate: 2, [2]));
        await _program.WaitUntilWaitingAsync(2);

        _program.Open(2);
        var secondReply = Reply.Parse(await second.WaitAsync(Bound));
        Assert.False(first.IsCompleted);
        _program.Open(1);
        var firstReply = Reply.Parse(await first.WaitAsync(Bound));

        Assert.Equal([2], secondReply.Opaque());
        Assert.Equal([1], firstReply.Opaque());
    }

    [Fact]
    public async Task Oversized_record_closes_only_its_own_connection()
    {
        await using var bad = await ConnectAsync();
        await using var good = await ConnectAsync();

        var header = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(header, 0x8000_0000u | (1u << 30));
        await bad.SendRawAsync(header);

        await bad.Closed.WaitAsync(Bound);
        Assert.Equal(AcceptStat.Success, Reply.Parse(await good.CallAsync(RpcTestClient.BuildCall(31, Program, 1, 0))).Accept);
    }

    [Fact]
    public async Task Record_too_short_for_a_header_is_dropped_and_the_stream_stays_in_step()
    {
        await using var client = await ConnectAsync();
        await client.SendRecordAsync([1, 2, 3]);
        await client.SendRecordAsync([0, 0, 0, 9, 0, 0, 0, 7]); // xid 9, message type 7
        Assert.Equal(AcceptStat.Success, Reply.Parse(await client.CallAsync(RpcTestClient.BuildCall(32, Program, 1, 0))).Accept);
    }

    [Fact]
    public async Task Truncated_call_header_is_garbage_args()
    {
        await using var client = await ConnectAsync();
        var call = RpcTestClient.BuildCall(33, Program, 1, 0);
        Assert.Equal(AcceptStat.GarbageArgs, Reply.Parse(await client.CallAsync(call[..20])).Accept);
    }

    [Fact]
    public async Task Record_split_into_many_fragments_and_writes_is_reassembled()
    {
        await using var client = await ConnectAsync();
        var call = RpcTestClient.BuildCall(34, Program, 1, 0);
        var reply = client.Expect(34);
        for (int i = 0; i < call.Length; i += 8)
        {
            var piece = call.AsSpan(i, Math.Min(8, call.Length - i));
            var frame = new byte[4 + piece.Length];
            BinaryPrimitives.WriteUInt32BigEndian(frame, (i + 8 >= call.Length ? 0x8000_0000u : 0) | (uint)piece.Length);
            piece.CopyTo(frame.AsSpan(4));
            await client.SendRawAsync(frame.AsMemory(0, 2));
            await client.SendRawAsync(frame.AsMemory(2));
        }
        Assert.Equal(AcceptStat.Success, Reply.Parse(await reply.WaitAsync(Bound)).Accept);
    }

    [Fact]
    public async Task Stopping_the_server_ends_calls_in_flight_and_closes_connections()
    {
        var client = await ConnectAsync();
        await client.SendRecordAsync(GatedProgram.EchoCall(41, gate: 9, [9]));
        await _program.WaitUntilWaitingAsync(1);

        await _server.StopAsync().WaitAsync(Bound);

        await client.Closed.WaitAsync(Bound);
        Assert.True(_program.CancelledCalls > 0);
        Assert.Equal(0, _server.ConnectionCount);
        await client.DisposeAsync();
    }

    /// <summary>A reply record taken apart.</summary>
    private sealed record Reply(uint Xid, ReplyStat Stat, AcceptStat Accept, RejectStat Reject, byte[] Body)
    {
        public static Reply Parse(byte[] record)
        {
            var r = new XdrReader(record);
            uint xid = r.ReadUInt32();
            Assert.Equal(1u, r.ReadUInt32()); // REPLY
            var stat = (ReplyStat)r.ReadUInt32();
            if (stat == ReplyStat.MsgDenied)
            {
                var reject = (RejectStat)r.ReadUInt32();
                return new Reply(xid, stat, default, reject, r.Rest.ToArray());
            }
            r.ReadUInt32();
            r.ReadOpaque(400); // verifier
            var accept = (AcceptStat)r.ReadUInt32();
            return new Reply(xid, stat, accept, default, r.Rest.ToArray());
        }

        public uint[] Words()
        {
            var r = new XdrReader(Body);
            var words = new List<uint>();
            while (r.Remaining >= 4)
                words.Add(r.ReadUInt32());
            return [.. words];
        }

        public byte[] Opaque() => new XdrReader(Body).ReadOpaque(1024).ToArray();
    }

    /// <summary>A test program whose echo calls wait on gates the test opens, to force concurrency and reply order.</summary>
    private sealed class GatedProgram : IRpcProgram
    {
        public const uint Echo = 1;
        public const uint Throw = 2;
        public const uint WhoAmI = 3;
        private readonly ConcurrentDictionary<uint, TaskCompletionSource> _gates = new();
        private int _waiting;
        private int _cancelled;

        public uint Program => RpcServerTests.Program;

        public uint LowVersion => 1;

        public uint HighVersion => 2;

        public int CancelledCalls => Volatile.Read(ref _cancelled);

        public static byte[] EchoCall(uint xid, uint gate, byte[] data) =>
            RpcTestClient.BuildCall(xid, RpcServerTests.Program, 1, Echo, w =>
            {
                w.WriteUInt32(gate);
                w.WriteOpaque(data);
            });

        public void Open(uint gate) => Gate(gate).TrySetResult();

        public async Task WaitUntilWaitingAsync(int count)
        {
            var until = DateTime.UtcNow + Bound;
            while (Volatile.Read(ref _waiting) < count)
            {
                if (DateTime.UtcNow > until)
                    throw new TimeoutException($"expected {count} calls to be waiting");
                await Task.Yield();
            }
        }

        private TaskCompletionSource Gate(uint id) => _gates.GetOrAdd(id, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));

        public async ValueTask<AcceptStat> HandleAsync(RpcCall call, XdrWriter results, CancellationToken cancellationToken)
        {
            switch (call.Procedure)
            {
                case Echo:
                    var (gate, data) = Decode(call.Arguments);
                    Interlocked.Increment(ref _waiting);
                    try
                    {
                        await Gate(gate).Task.WaitAsync(cancellationToken);
                    }
                    catch (OperationCanceledException)
                    {
                        Interlocked.Increment(ref _cancelled);
                        throw;
                    }
                    results.WriteOpaque(data);
                    return AcceptStat.Success;
                case Throw:
                    throw new InvalidOperationException("handler bug");
                case WhoAmI:
                    results.WriteUInt32(call.Credentials.Uid);
                    results.WriteUInt32(call.Credentials.Gid);
                    results.WriteUInt32((uint)call.Credentials.Groups.Length);
                    return AcceptStat.Success;
                default:
                    return AcceptStat.ProcUnavail;
            }
        }

        private static (uint Gate, byte[] Data) Decode(ReadOnlyMemory<byte> args)
        {
            var r = new XdrReader(args.Span);
            return (r.ReadUInt32(), r.ReadOpaque(1024).ToArray());
        }
    }
}
