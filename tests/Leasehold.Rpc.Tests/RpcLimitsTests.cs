using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Leasehold.Rpc.Messages;
using Leasehold.Rpc.Server;
using Leasehold.Rpc.Xdr;
using Leasehold.Testing;
using Microsoft.Extensions.Logging;

namespace Leasehold.Rpc.Tests;

/// <summary>
/// The listener's resource limits on 127.0.0.1 (issue 6, items 10 to 12 and 14): one listener per address, idle
/// connections closed on the server's clock, idle ones closed to make room at the connection limit, replies that a
/// peer does not read bounded, and warnings rate-limited per peer.
/// </summary>
public sealed class RpcLimitsTests : IAsyncDisposable
{
    private const uint Program = 400_200;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    private readonly ManualTimeProvider _clock = new();
    private readonly LimitsProgram _program = new();
    private readonly RecordingLogger _log = new();
    private readonly List<RpcServer> _servers = [];
    private readonly List<IAsyncDisposable> _clients = [];

    private RpcServer Start(RpcOptions? options = null, IPEndPoint? at = null)
    {
        var server = new RpcServer([_program], options ?? new RpcOptions(), _log, _clock);
        _servers.Add(server);
        server.Start(at ?? new IPEndPoint(IPAddress.Loopback, 0));
        return server;
    }

    private async Task<RpcTestClient> ConnectAsync(RpcServer server)
    {
        var client = await RpcTestClient.ConnectAsync(server.LocalEndPoint!);
        _clients.Add(client);
        return client;
    }

    private static async Task<AcceptStat> NullAsync(RpcTestClient client) =>
        ParseAccept(await client.CallAsync(RpcTestClient.BuildCall(client.NextXid(), Program, 1, 0)));

    private static AcceptStat ParseAccept(byte[] reply)
    {
        var r = new XdrReader(reply);
        r.ReadUInt32();
        r.ReadUInt32();
        Assert.Equal((uint)ReplyStat.MsgAccepted, r.ReadUInt32());
        r.ReadUInt32();
        r.ReadOpaque(400);
        return (AcceptStat)r.ReadUInt32();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var client in _clients)
            await client.DisposeAsync();
        foreach (var server in _servers)
            await server.DisposeAsync();
    }

    // ---- item 10: one listener per address ----

    [Fact]
    public void A_second_server_on_the_same_address_and_port_fails_to_start_naming_the_address()
    {
        var first = Start();
        var ex = Assert.Throws<RpcListenException>(() => Start(at: first.LocalEndPoint));
        Assert.Equal(SocketError.AddressAlreadyInUse, ex.SocketError);
        Assert.Equal(first.LocalEndPoint, ex.EndPoint);
        Assert.Equal($"Cannot listen on 127.0.0.1:{first.LocalEndPoint!.Port}: the address is already in use (another server, or another process, is listening there).", ex.Message);
    }

    [Fact]
    public void A_server_on_the_wildcard_address_conflicts_with_one_on_loopback_either_way_round()
    {
        var loopback = Start();
        Assert.Throws<RpcListenException>(() => Start(at: new IPEndPoint(IPAddress.Any, loopback.LocalEndPoint!.Port)));

        var wildcard = Start(at: new IPEndPoint(IPAddress.Any, 0));
        Assert.Throws<RpcListenException>(() => Start(at: new IPEndPoint(IPAddress.Loopback, wildcard.LocalEndPoint!.Port)));
    }

    [Fact]
    public async Task The_IPv6_wildcard_address_takes_IPv4_clients_too_and_so_conflicts_with_IPv4_loopback()
    {
        if (!Socket.OSSupportsIPv6)
            return; // nothing to check on a machine without IPv6
        var wildcard = Start(at: new IPEndPoint(IPAddress.IPv6Any, 0));
        int port = wildcard.LocalEndPoint!.Port;
        Assert.Throws<RpcListenException>(() => Start(at: new IPEndPoint(IPAddress.Loopback, port)));

        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port)).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(client.Connected);
    }

    [Fact]
    public void A_listener_that_offers_to_share_its_port_does_not_make_ours_share_it()
    {
        using var other = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        other.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true); // SO_REUSEPORT too, on Linux
        other.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        other.Listen();

        var ex = Assert.Throws<RpcListenException>(() => Start(at: (IPEndPoint)other.LocalEndPoint!));
        Assert.Equal(SocketError.AddressAlreadyInUse, ex.SocketError);
    }

    [Fact]
    public async Task A_restarted_server_binds_its_port_again_while_closed_connections_linger()
    {
        var first = Start();
        var port = first.LocalEndPoint!.Port;
        var client = await ConnectAsync(first);
        Assert.Equal(AcceptStat.Success, await NullAsync(client));
        await first.StopAsync().WaitAsync(Bound); // the server closes first: its side of the connection is in TIME_WAIT
        await client.Closed.WaitAsync(Bound);

        var second = Start(at: new IPEndPoint(IPAddress.Loopback, port));
        Assert.Equal(AcceptStat.Success, await NullAsync(await ConnectAsync(second)));
    }

    // ---- item 11: idle connections ----

    [Fact]
    public async Task A_connection_without_traffic_is_closed_after_the_idle_timeout_and_a_bound_one_only_after_the_longer_one()
    {
        var options = new RpcOptions { IdleTimeout = TimeSpan.FromMinutes(6), BoundIdleTimeout = TimeSpan.FromMinutes(30) };
        var server = Start(options);
        var silent = await ConnectAsync(server); // never sends a byte
        var talked = await ConnectAsync(server);
        Assert.Equal(AcceptStat.Success, await NullAsync(talked));
        var bound = await ConnectAsync(server);
        Assert.Equal(AcceptStat.Success, await CallAsync(bound, LimitsProgram.Bind));
        await WaitUntil(() => server.ConnectionCount == 3);
        // The writer stamps a connection's activity after the reply reached the socket, and gives the reply's bytes back
        // only after that: once none are queued, no stamp can land after the clock moves (on a loaded machine one did,
        // and "talked" looked active at the later time).
        await WaitUntil(() => server.QueuedReplyBytes == 0);

        _clock.Advance(TimeSpan.FromMinutes(6) + TimeSpan.FromMinutes(6) / 4); // the timeout plus one heartbeat
        await silent.Closed.WaitAsync(Bound);
        await talked.Closed.WaitAsync(Bound);
        Assert.Equal(AcceptStat.Success, await NullAsync(bound)); // still open (and now active again)
        await WaitUntil(() => server.QueuedReplyBytes == 0);

        _clock.Advance(TimeSpan.FromMinutes(30) + TimeSpan.FromMinutes(6) / 4);
        await bound.Closed.WaitAsync(Bound);
        await WaitUntil(() => server.ConnectionCount == 0);
    }

    [Fact]
    public async Task Traffic_keeps_a_connection_open_past_the_idle_timeout()
    {
        var server = Start(new RpcOptions { IdleTimeout = TimeSpan.FromMinutes(6) });
        var client = await ConnectAsync(server);
        for (int i = 0; i < 10; i++)
        {
            _clock.Advance(TimeSpan.FromMinutes(5));
            Assert.Equal(AcceptStat.Success, await NullAsync(client)); // 50 minutes, never 6 in silence
        }
    }

    [Fact]
    public async Task A_connection_executing_a_call_is_not_idle()
    {
        var server = Start(new RpcOptions { IdleTimeout = TimeSpan.FromMinutes(6) });
        var client = await ConnectAsync(server);
        var reply = client.Expect(77);
        await client.SendRecordAsync(RpcTestClient.BuildCall(77, Program, 1, LimitsProgram.Wait));
        await WaitUntil(() => _program.Waiting == 1);

        _clock.Advance(TimeSpan.FromMinutes(20));
        _program.Release();
        Assert.Equal(AcceptStat.Success, ParseAccept(await reply.WaitAsync(Bound)));
    }

    [Fact]
    public async Task With_every_slot_taken_by_idle_connections_a_new_one_closes_the_least_recently_active()
    {
        // Issue 6 item 11, scaled down: the limit's worth of silent connections must not lock everybody out.
        const int limit = 64;
        var server = Start(new RpcOptions { MaxConnections = limit });
        var idle = new List<RpcTestClient>();
        for (int i = 0; i < limit; i++)
        {
            var client = await ConnectAsync(server);
            Assert.Equal(AcceptStat.Success, await NullAsync(client)); // accepted, and active at a distinct instant
            await WaitUntil(() => server.QueuedReplyBytes == 0); // its activity stamped before the clock moves
            _clock.Advance(TimeSpan.FromSeconds(1));
            idle.Add(client);
        }

        for (int i = 0; i < 3; i++)
        {
            var newcomer = await ConnectAsync(server);
            Assert.Equal(AcceptStat.Success, await NullAsync(newcomer));
            await idle[i].Closed.WaitAsync(Bound); // the oldest go first, one per newcomer
            await WaitUntil(() => server.QueuedReplyBytes == 0);
            _clock.Advance(TimeSpan.FromSeconds(1));
        }
        Assert.Equal(AcceptStat.Success, await NullAsync(idle[3]));
        Assert.Equal(AcceptStat.Success, await NullAsync(idle[limit - 1]));
    }

    [Fact]
    public async Task At_the_limit_an_unbound_connection_is_closed_before_an_older_bound_one()
    {
        var server = Start(new RpcOptions { MaxConnections = 2 });
        var bound = await ConnectAsync(server);
        Assert.Equal(AcceptStat.Success, await CallAsync(bound, LimitsProgram.Bind));
        await WaitUntil(() => server.QueuedReplyBytes == 0);
        _clock.Advance(TimeSpan.FromSeconds(10));
        var unbound = await ConnectAsync(server);
        Assert.Equal(AcceptStat.Success, await NullAsync(unbound));
        await WaitUntil(() => server.QueuedReplyBytes == 0);
        _clock.Advance(TimeSpan.FromSeconds(10));

        var newcomer = await ConnectAsync(server);
        Assert.Equal(AcceptStat.Success, await NullAsync(newcomer));
        await unbound.Closed.WaitAsync(Bound);
        Assert.Equal(AcceptStat.Success, await NullAsync(bound));
    }

    [Fact]
    public async Task At_the_limit_with_every_connection_executing_a_call_the_new_one_is_refused()
    {
        var server = Start(new RpcOptions { MaxConnections = 1 });
        var busy = await ConnectAsync(server);
        var reply = busy.Expect(78);
        await busy.SendRecordAsync(RpcTestClient.BuildCall(78, Program, 1, LimitsProgram.Wait));
        await WaitUntil(() => _program.Waiting == 1);

        var refused = await ConnectAsync(server);
        await refused.Closed.WaitAsync(Bound);
        Assert.Contains(_log.Entries, e => e.EventId == 3004);

        _program.Release();
        Assert.Equal(AcceptStat.Success, ParseAccept(await reply.WaitAsync(Bound)));
    }

    // ---- item 12: a peer that never reads its replies ----

    [Fact]
    public async Task A_peer_that_never_reads_its_replies_stops_being_read_and_its_replies_stay_bounded()
    {
        var options = new RpcOptions { MaxCallsInFlightPerConnection = 8, MaxQueuedReplyBytesPerConnection = 256 * 1024 };
        var server = Start(options);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await socket.ConnectAsync(server.LocalEndPoint!);

        // 2,000 calls of 16 KiB, each answered with 64 KiB: 32 MB one way and 128 MB the other, far beyond the kernel's buffers.
        const int calls = 2000;
        var send = Task.Run(async () =>
        {
            for (uint i = 0; i < calls; i++)
                await socket.SendAsync(Frame(RpcTestClient.BuildCall(i, Program, 1, LimitsProgram.Big, w => w.WriteOpaque(new byte[16 * 1024]))));
        });

        // Without the bound the server reads it all in well under a second, holding every reply; with it, it stops.
        var finished = await Task.WhenAny(send, Task.Delay(TimeSpan.FromSeconds(3)));
        Assert.NotSame(send, finished);
        long perReply = 128 * 1024; // a 64 KiB reply grows its pooled buffer to the next power of two
        long bound = options.MaxQueuedReplyBytesPerConnection + options.MaxCallsInFlightPerConnection * perReply;
        Assert.InRange(server.QueuedReplyBytes, 1, bound);
        Assert.InRange(_program.BigCalls, 1, calls / 4);

        // Closing a socket with a send pending only half-closes it here, and the server's write stays blocked: the
        // connection is now idle (no bytes in, none out), and the heartbeat closes it and gives everything back.
        socket.Close();
        _clock.Advance(options.IdleTimeout + options.IdleTimeout / 4);
        await WaitUntil(() => server.ConnectionCount == 0 && server.QueuedReplyBytes == 0);
        Assert.DoesNotContain(_log.Entries, e => e.Level >= LogLevel.Error); // a reset met while closing is no fault of ours
        await Assert.ThrowsAnyAsync<Exception>(() => send);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_connection_whose_peer_stays_connected_and_never_reads_is_closed_at_once_by_stop_or_the_idle_timeout(bool stop)
    {
        var options = new RpcOptions { MaxCallsInFlightPerConnection = 8, MaxQueuedReplyBytesPerConnection = 256 * 1024 };
        var server = Start(options);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await socket.ConnectAsync(server.LocalEndPoint!);
        var send = Task.Run(async () =>
        {
            for (uint i = 0; i < 2000; i++)
                await socket.SendAsync(Frame(RpcTestClient.BuildCall(i, Program, 1, LimitsProgram.Big, w => w.WriteOpaque(new byte[16 * 1024]))));
        });
        // The server's write to this peer is blocked (the peer's window is full) and its reading has stopped.
        await WaitUntil(() => server.QueuedReplyBytes >= options.MaxQueuedReplyBytesPerConnection);

        // The peer stays connected and still does not read. Closing the connection must not wait for it to read
        // (it never will): before, the write loop flushed what it had buffered on the way out, and blocked there.
        if (stop)
        {
            await server.StopAsync().WaitAsync(Bound);
        }
        else
        {
            _clock.Advance(options.IdleTimeout + options.IdleTimeout / 4);
            await WaitUntil(() => server.ConnectionCount == 0);
        }
        Assert.Equal(0, server.ConnectionCount);
        Assert.Equal(0, server.QueuedReplyBytes);
        Assert.DoesNotContain(_log.Entries, e => e.Level >= LogLevel.Error);
        socket.Close();
        await Assert.ThrowsAnyAsync<Exception>(() => send);
    }

    [Fact]
    public async Task Over_the_servers_total_a_peer_that_reads_its_replies_still_gets_answers()
    {
        var options = new RpcOptions { MaxCallsInFlightPerConnection = 8, MaxQueuedReplyBytesPerConnection = 64 * 1024, MaxQueuedReplyBytes = 64 * 1024 };
        var server = Start(options);
        using var hog = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await hog.ConnectAsync(server.LocalEndPoint!);
        var flood = Task.Run(async () =>
        {
            for (uint i = 0; i < 2000; i++)
                await hog.SendAsync(Frame(RpcTestClient.BuildCall(i, Program, 1, LimitsProgram.Big, w => w.WriteOpaque(new byte[16 * 1024]))));
        });
        await WaitUntil(() => server.QueuedReplyBytes >= options.MaxQueuedReplyBytes);

        var polite = await ConnectAsync(server);
        for (int i = 0; i < 50; i++)
            Assert.Equal(AcceptStat.Success, await CallAsync(polite, LimitsProgram.Big));

        hog.Close();
        await Assert.ThrowsAnyAsync<Exception>(() => flood);
    }

    // ---- item 14: warnings rate-limited per peer ----

    [Fact]
    public async Task A_flood_of_bad_records_logs_ten_warnings_and_one_summary_per_window()
    {
        var server = Start(new RpcOptions { MaxWarningsPerPeer = 10, WarningWindow = TimeSpan.FromMinutes(1) });
        // Two connections from one address: one peer, one budget.
        var first = await ConnectAsync(server);
        var second = await ConnectAsync(server);
        for (int i = 0; i < 500; i++)
        {
            await first.SendRecordAsync([1, 2, 3]); // too short for a call header: a warning, and the record is dropped
            await second.SendRecordAsync([4, 5, 6]);
        }
        Assert.Equal(AcceptStat.Success, await NullAsync(first)); // in order: every bad record before it was handled
        Assert.Equal(AcceptStat.Success, await NullAsync(second));

        Assert.Equal(10, _log.Entries.Count(e => e.EventId == 3006));
        Assert.DoesNotContain(_log.Entries, e => e.EventId == 3013);
        _clock.Advance(TimeSpan.FromMinutes(1));
        var summary = Assert.Single(_log.Entries, e => e.EventId == 3013);
        Assert.Equal("Suppressed 990 more warning(s) about 127.0.0.1 in the last 60 s (at most 10 are logged per peer every 60 s)", summary.Message);
        Assert.Equal(LogLevel.Warning, summary.Level);
    }

    [Fact]
    public async Task Random_garbage_gets_errors_or_a_closed_connection_and_never_stops_the_server()
    {
        var server = Start(new RpcOptions { MaxRecordSize = 64 * 1024 });
        var random = new Random(6);
        for (int round = 0; round < 40; round++)
        {
            var client = await ConnectAsync(server); // disposed with the test
            for (int i = 0; i < 20; i++)
            {
                var junk = new byte[random.Next(0, 200)];
                random.NextBytes(junk);
                if (i % 3 == 0 && junk.Length >= 12)
                    BinaryPrimitives.WriteUInt32BigEndian(junk.AsSpan(4), 0); // a CALL with garbage after it
                try
                {
                    if (i % 2 == 0)
                        await client.SendRecordAsync(junk);
                    else
                        await client.SendRawAsync(junk); // not even record marking
                }
                catch (IOException)
                {
                    break; // the server closed this one: a record mark it refused
                }
            }
        }
        var healthy = await ConnectAsync(server);
        Assert.Equal(AcceptStat.Success, await NullAsync(healthy));
        Assert.DoesNotContain(_log.Entries, e => e.Level >= LogLevel.Error);
    }

    private static byte[] Frame(byte[] record)
    {
        var frame = new byte[4 + record.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame, 0x8000_0000u | (uint)record.Length);
        record.CopyTo(frame, 4);
        return frame;
    }

    private static async Task<AcceptStat> CallAsync(RpcTestClient client, uint procedure) =>
        ParseAccept(await client.CallAsync(RpcTestClient.BuildCall(client.NextXid(), Program, 1, procedure, w => w.WriteOpaque([]))));

    private static async Task WaitUntil(Func<bool> condition)
    {
        var until = DateTime.UtcNow + Bound;
        while (!condition())
        {
            if (DateTime.UtcNow > until)
                throw new TimeoutException("condition not met in time");
            await Task.Delay(10);
        }
    }

    /// <summary>NULL, a call that binds its connection, one that waits for the test, and one with a 64 KiB reply.</summary>
    private sealed class LimitsProgram : IRpcProgram
    {
        public const uint Bind = 1;
        public const uint Wait = 2;
        public const uint Big = 3;
        private readonly TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _waiting;
        private int _big;

        public uint Program => RpcLimitsTests.Program;

        public uint LowVersion => 1;

        public uint HighVersion => 1;

        public int Waiting => Volatile.Read(ref _waiting);

        public int BigCalls => Volatile.Read(ref _big);

        public void Release() => _gate.TrySetResult();

        public async ValueTask<AcceptStat> HandleAsync(RpcCall call, XdrWriter results, CancellationToken cancellationToken)
        {
            switch (call.Procedure)
            {
                case Bind:
                    call.Connection.MarkBound();
                    return AcceptStat.Success;
                case Wait:
                    Interlocked.Increment(ref _waiting);
                    await _gate.Task.WaitAsync(cancellationToken);
                    return AcceptStat.Success;
                case Big:
                    Interlocked.Increment(ref _big);
                    results.GetSpan(64 * 1024).Clear();
                    results.Advance(64 * 1024);
                    return AcceptStat.Success;
                default:
                    return AcceptStat.ProcUnavail;
            }
        }
    }
}

/// <summary>An <see cref="ILogger{T}"/> that keeps what is logged, for tests that count lines.</summary>
internal sealed class RecordingLogger : ILogger<RpcServer>
{
    private readonly ConcurrentQueue<Entry> _entries = new();

    public sealed record Entry(LogLevel Level, int EventId, string Message);

    public IReadOnlyCollection<Entry> Entries => _entries;

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        _entries.Enqueue(new Entry(logLevel, eventId.Id, formatter(state, exception) + (exception is null ? "" : " " + exception)));
}
