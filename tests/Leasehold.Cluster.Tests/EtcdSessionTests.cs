using System.Diagnostics;
using Etcdserverpb;
using Google.Protobuf;
using Leasehold.Cluster.Tests.Etcd;
using Microsoft.Extensions.Logging.Abstractions;

namespace Leasehold.Cluster.Tests;

/// <summary>Joining and leaving against three real etcd members: the node key, its lease, and the one-line join failures.</summary>
[Collection(EtcdCollection.Name)]
public sealed class EtcdSessionTests : IAsyncLifetime
{
    private readonly EtcdClusterFixture _etcd = new();

    public async Task InitializeAsync()
    {
        if (EtcdClusterFixture.Unavailable is null)
            await _etcd.StartAsync();
    }

    public async Task DisposeAsync() => await _etcd.DisposeAsync();

    private ClusterOptions Options(string node) => new()
    {
        Etcd = _etcd.Endpoints,
        Node = node,
        Prefix = "/t/",
        LeaseTtl = TimeSpan.FromSeconds(2),
        OpenClaimTtl = TimeSpan.FromSeconds(4),
    };

    [EtcdFact]
    public async Task JoinPutsTheNodeKeyUnderTheShortLeaseAndLeavingRevokesIt()
    {
        var session = await EtcdSession.OpenAsync(Options("a"), TimeProvider.System, NullLogger.Instance, default);
        var got = await session.Connection.GetAsync(new RangeRequest { Key = ByteString.CopyFromUtf8("/t/nodes/a") }, default);
        Assert.Single(got.Kvs);
        Assert.Equal(session.ShortLease, got.Kvs[0].Lease);
        Assert.NotEqual(session.ShortLease, session.LongLease);
        Assert.Equal(TimeSpan.FromSeconds(2), session.Ttl);

        var probe = new EtcdConnection(Options("x").EndpointUris, TimeSpan.FromSeconds(2));
        await session.DisposeAsync();
        var after = await probe.GetAsync(new RangeRequest { Key = ByteString.CopyFromUtf8("/t/nodes/a") }, default);
        Assert.Empty(after.Kvs); // revoked at once, not after the TTL
        probe.Dispose();
    }

    [EtcdFact]
    public async Task ASecondLiveNodeWithTheSameNameIsRefusedWithOneLine()
    {
        await using var first = await EtcdSession.OpenAsync(Options("same"), TimeProvider.System, NullLogger.Instance, default);
        var e = await Assert.ThrowsAsync<ClusterJoinException>(() => EtcdSession.OpenAsync(Options("same"), TimeProvider.System, NullLogger.Instance, default));
        Assert.StartsWith("node same is already in the cluster (pid ", e.Message, StringComparison.Ordinal);
        Assert.EndsWith("; if that process is gone, the name frees within 2 s (Cluster:LeaseTtl), or at once when it is restarted on its own state directory; otherwise choose another --node name", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
    }

    [EtcdFact]
    public async Task ARestartedIncarnationTakesItsNameBackAtOnceAndItsPredecessorsKeysGo()
    {
        var options = Options("phoenix");
        options.LeaseTtl = TimeSpan.FromSeconds(10); // far longer than the test: only a revoke can free the name in time
        options.OpenClaimTtl = TimeSpan.FromSeconds(60);
        options.Incarnation = "host-a:/var/lib/leasehold/state";
        var dead = await EtcdSession.OpenAsync(options, TimeProvider.System, NullLogger.Instance, default);
        var claim = ByteString.CopyFromUtf8("/t/f/0000000000000007/open/phoenix");
        await dead.Connection.PutAsync(new PutRequest { Key = claim, Value = ByteString.CopyFrom(3), Lease = dead.LongLease }, default);
        await dead.AbandonAsync(); // as SIGKILL: nothing revoked

        // Another process with another identity is still refused: the name looks live to it.
        var stranger = Options("phoenix");
        stranger.Incarnation = "host-b:/var/lib/leasehold/state";
        var refused = await Assert.ThrowsAsync<ClusterJoinException>(() => EtcdSession.OpenAsync(stranger, TimeProvider.System, NullLogger.Instance, default));
        Assert.StartsWith("node phoenix is already in the cluster (pid ", refused.Message, StringComparison.Ordinal);

        // The same identity (the host holds the state directory's lock, so the predecessor is dead) takes over at once.
        var log = new TestLog();
        var clock = Stopwatch.StartNew();
        await using var reborn = await EtcdSession.OpenAsync(options, TimeProvider.System, log.CreateLogger("t"), default);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"the takeover took {clock.Elapsed}");
        var node = await reborn.Connection.GetAsync(new RangeRequest { Key = ByteString.CopyFromUtf8("/t/nodes/phoenix") }, default);
        Assert.Equal(reborn.ShortLease, Assert.Single(node.Kvs).Lease);
        Assert.Empty((await reborn.Connection.GetAsync(new RangeRequest { Key = claim }, default)).Kvs); // went with the old long lease
        Assert.Contains(log.Lines, l => l.Id == 6017 && l.Message.Contains("revoked its 2 etcd leases", StringComparison.Ordinal));
    }

    [EtcdFact]
    public async Task LeavingWhileEtcdIsDownSaysTheLeasesWereNotRevoked()
    {
        var log = new TestLog();
        var session = await EtcdSession.OpenAsync(Options("cut"), TimeProvider.System, log.CreateLogger("t"), default);
        for (int i = 0; i < _etcd.Count; i++)
            _etcd.Kill(i);
        await session.DisposeAsync();
        Assert.True(log.Has(6018), log.ToString());
        Assert.False(log.Has(6002), log.ToString()); // "Left the cluster: leases revoked" would be untrue
    }

    [Fact]
    public void TheNodeValueNamesTheIncarnationAndLeases()
    {
        var (holder, incarnation, leases) = EtcdSession.ParseNodeValue("pid 7 on vm, since 2026-12-01T00:00:00Z\nincarnation vm:/s\nleases 1a 2b");
        Assert.Equal("pid 7 on vm, since 2026-12-01T00:00:00Z", holder);
        Assert.Equal("vm:/s", incarnation);
        Assert.Equal([0x1a, 0x2b], leases);
        Assert.Equal(("pid 7 on vm", (string?)null, Array.Empty<long>()), (EtcdSession.ParseNodeValue("pid 7 on vm").Holder, EtcdSession.ParseNodeValue("pid 7 on vm").Incarnation, EtcdSession.ParseNodeValue("pid 7 on vm").Leases));
    }

    [EtcdFact]
    public async Task KeepalivesHoldTheNodeKeyPastTheTtl()
    {
        var options = Options("kept");
        options.LeaseTtl = TimeSpan.FromSeconds(3);
        await using var session = await EtcdSession.OpenAsync(options, TimeProvider.System, NullLogger.Instance, default);
        long lease = session.ShortLease;
        session.Start(new RecordingListener());
        await Task.Delay(options.LeaseTtl * 1.5);

        // Still the same lease, still alive: without keepalives etcd would have expired it (and the key) by now. Whether
        // the node fenced for a moment on the way is not asserted: on a loaded test machine a keepalive answer can miss
        // its 0.5 s deadline, and fencing then is the intended reaction.
        var got = await session.Connection.GetAsync(new RangeRequest { Key = ByteString.CopyFromUtf8("/t/nodes/kept") }, default);
        Assert.Equal(lease, Assert.Single(got.Kvs).Lease);
        Assert.Equal(lease, session.ShortLease);
    }

    [Fact]
    public async Task UnreachableEtcdFailsTheJoinWithOneLineWithinTheConnectTimeout()
    {
        using var closed = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        closed.Start();
        int port = ((System.Net.IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop();
        var options = new ClusterOptions { Etcd = [$"127.0.0.1:{port}"], Node = "n", ConnectTimeout = TimeSpan.FromSeconds(1) };
        var clock = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<ClusterJoinException>(() => EtcdSession.OpenAsync(options, TimeProvider.System, NullLogger.Instance, default));
        Assert.StartsWith($"cannot reach etcd at 127.0.0.1:{port}: ", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(8));
    }
}

/// <summary>Records what the session asks of the token side.</summary>
internal sealed class RecordingListener : ISessionListener
{
    public List<(long At, Engine.TokenRights Keep, TimeSpan MaxBreakTime)> Fences { get; } = [];

    public int Reclaims { get; private set; }

    public int Fence(Engine.TokenRights keep, TimeSpan maxBreakTime)
    {
        lock (Fences)
            Fences.Add((Stopwatch.GetTimestamp(), keep, maxBreakTime));
        return 0;
    }

    public Task<int> ReclaimAsync(CancellationToken ct)
    {
        Reclaims++;
        return Task.FromResult(0);
    }
}
