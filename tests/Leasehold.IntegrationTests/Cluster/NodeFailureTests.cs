using System.Diagnostics;
using Leasehold.Cluster.Tests.Etcd;
using Leasehold.Nfs4.Client;
using Xunit.Abstractions;

namespace Leasehold.IntegrationTests.Cluster;

/// <summary>
/// Issue 11's failure cases with real node processes over a real three-member etcd: a node SIGKILLed while it holds
/// tokens, one etcd member killed, and the etcd majority lost. Each test has a cluster of its own (it breaks it).
/// </summary>
public sealed class NodeFailureTests(ITestOutputHelper output) : IAsyncLifetime
{
    private sealed class SlowerTtlCluster : ClusterFixture
    {
        // 4 s: an etcd leader election (500 ms election timeout) plus a keepalive stream moving to another member stay well
        // inside P = T/2, so killing one member must not fence anybody.
        public override TimeSpan LeaseTtl => TimeSpan.FromSeconds(4);
    }

    private readonly SlowerTtlCluster _fx = new();

    public Task InitializeAsync() => _fx.InitializeAsync();

    public async Task DisposeAsync()
    {
        output.WriteLine(_fx.Logs);
        await _fx.DisposeAsync();
    }

    /// <summary>
    /// A's client holds a write delegation; A dies by SIGKILL at t. B's OPEN for write must be DELAY at every try before
    /// t + T - T/4 (A's last keepalive was sent at most T/4 before t, and etcd keeps its lease T after that), and OK soon
    /// after t + T (etcd's expiry check runs every 500 ms).
    /// </summary>
    [EtcdFact]
    public async Task NodeKilledWhileHoldingTokens_BProceedsAfterTheTtlAndNeverBefore()
    {
        var (nodeA, nodeB) = (_fx.Nodes[0], _fx.Nodes[1]);
        var (root, name, file) = await CrossNodeRecallTests.NewFileAsync(nodeA);
        var a = await CrossNodeRecallTests.ConnectWithBackChannelAsync(nodeA);
        var held = (await a.Session.OpenAsync(root, name, ShareAccess.Both).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.Write, held.Delegation.Type);
        await using var b = await nodeB.ConnectPlainAsync();

        long killed = Stopwatch.GetTimestamp();
        await nodeA.KillAsync();
        var ttl = _fx.LeaseTtl;
        var earliest = ttl - ttl / 4 - TimeSpan.FromMilliseconds(100);
        var latest = ttl + TimeSpan.FromSeconds(3);
        var delays = new List<TimeSpan>();
        TimeSpan? ok = null;
        while (Stopwatch.GetElapsedTime(killed) < latest + TimeSpan.FromSeconds(5))
        {
            var attempt = await b.OpenAsync(root, name, ShareAccess.Write).Bounded();
            var at = Stopwatch.GetElapsedTime(killed);
            if (attempt.Status == NfsStat4.Ok)
            {
                ok = at;
                (await b.CloseAsync(attempt.Value!.FileHandle, attempt.Value.StateId).Bounded()).ValueOrThrow();
                break;
            }
            Assert.Equal(NfsStat4.Delay, attempt.Status);
            delays.Add(at);
            await Task.Delay(50);
        }
        output.WriteLine($"A killed; B's OPEN DELAYed {delays.Count} times (last at {delays.LastOrDefault().TotalMilliseconds:F0} ms), OK at {ok?.TotalMilliseconds:F0} ms; TTL {ttl.TotalSeconds} s");
        Assert.NotNull(ok);
        Assert.True(ok >= earliest, $"B proceeded {ok!.Value.TotalMilliseconds:F0} ms after the kill, before the dead node's lease could have expired ({earliest.TotalMilliseconds:F0} ms)");
        Assert.True(ok <= latest, $"B proceeded only {ok.Value.TotalMilliseconds:F0} ms after the kill (later than TTL + 3 s)");
        Assert.NotEmpty(delays);
        try
        {
            await a.DisposeAsync(); // its server is gone
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or TimeoutException or Leasehold.Nfs4.Client.Rpc.RpcException)
        {
        }
    }

    /// <summary>Killing one of three etcd members (each in turn, so the leader too) changes nothing the clients see, and no node revokes.</summary>
    [EtcdFact]
    public async Task OneEtcdMemberKilled_TheClusterGoesOn()
    {
        var (nodeA, nodeB) = (_fx.Nodes[0], _fx.Nodes[1]);
        for (int member = 0; member < _fx.Etcd.Count; member++)
        {
            _fx.Etcd.Kill(member);
            await RecallAcrossNodesAsync(nodeA, nodeB);
            await _fx.Etcd.RestartAsync(member);
            // One member down at a time: before the next kill, every node has a keepalive answered by the healed cluster
            // (one keepalive interval, T/4, plus its answer timeout, T/8). Killing the next member at once would stack a
            // second leader election on the first, which is two failures, not one.
            await Task.Delay(_fx.LeaseTtl / 4 + _fx.LeaseTtl / 8);
        }
        // No node reached F (delegations revoked as if its lease were gone). A short stop at P (6010) is not ruled out: on
        // a loaded test machine one keepalive answer can miss its deadline while a member dies.
        foreach (var node in _fx.Nodes)
            Assert.DoesNotContain("[6011]", node.Log, StringComparison.Ordinal);
    }

    /// <summary>
    /// Two of three members killed: every node stops granting delegations at P and recalls what it granted (logs 6010,
    /// then 6011), keeps serving READ and WRITE under the opens its clients hold, and grants delegations again once etcd is back.
    /// </summary>
    [EtcdFact]
    public async Task EtcdMajorityLost_NodesStopGrantingAndKeepServingOpens()
    {
        var nodeA = _fx.Nodes[0];
        var (root, name, file) = await CrossNodeRecallTests.NewFileAsync(nodeA);
        await using var a = await CrossNodeRecallTests.ConnectWithBackChannelAsync(nodeA);
        var held = (await a.Session.OpenAsync(root, name, ShareAccess.Both).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.Write, held.Delegation.Type);

        long lost = Stopwatch.GetTimestamp();
        _fx.Etcd.KillMajority();

        // The fence recalls the delegation (CB_RECALL) with the time left before F to answer.
        var recall = await CrossNodeRecallTests.NextRecallAsync(a);
        var recalledAfter = Stopwatch.GetElapsedTime(lost);
        Assert.Equal(held.Delegation.StateId.Other, recall.StateId.Other);
        Assert.Equal(NfsStat4.Ok, await a.Session.DelegReturnAsync(file, held.Delegation.StateId).Bounded());
        await Waits.WaitUntilAsync(() => nodeA.Log.Contains("[6011]", StringComparison.Ordinal), "node A logs that it lost its etcd lease (6011)");
        Assert.Contains("[6010]", nodeA.Log, StringComparison.Ordinal);
        Assert.True(recalledAfter <= _fx.LeaseTtl, $"the fence's recall came {recalledAfter.TotalMilliseconds:F0} ms after the majority was lost");

        // I/O under the open it holds goes on.
        Assert.Equal(NfsStat4.Ok, (await a.Session.WriteAsync(file, held.StateId, 0, ServerFixture.Bytes("still here")).Bounded()).Status);
        var read = (await a.Session.ReadAsync(file, held.StateId, 0, 100).Bounded()).ValueOrThrow();
        Assert.Equal("still here", System.Text.Encoding.UTF8.GetString(read.Data.Span));
        // Another client of A may open the file (A's open rights stand), but no delegation is granted while fenced.
        await using var other = await CrossNodeRecallTests.ConnectWithBackChannelAsync(nodeA);
        var second = (await ClusterHandleTests.RetryWhileDelayAsync(() => other.Session.OpenAsync(root, name, ShareAccess.Read))).ValueOrThrow();
        Assert.Equal(DelegationType.None, second.Delegation.Type);
        Assert.Equal(NfsStat4.Ok, (await other.Session.CloseAsync(file, second.StateId).Bounded()).Status);

        // etcd back: the node unfences (same lease, or a new one) and grants again, on a file recalled never.
        for (int member = 0; member <= _fx.Etcd.Count / 2; member++)
            await _fx.Etcd.RestartAsync(member);
        await Waits.WaitUntilAsync(() => nodeA.Log.Contains("[6013]", StringComparison.Ordinal) || nodeA.Log.Contains("[6012]", StringComparison.Ordinal),
            "node A logs that etcd answers again (6013) or that it rejoined (6012)");
        var (_, freshName, freshFile) = await CrossNodeRecallTests.NewFileAsync(nodeA);
        var again = (await ClusterHandleTests.RetryWhileDelayAsync(() => other.Session.OpenAsync(root, freshName, ShareAccess.Read))).ValueOrThrow();
        Assert.Equal(DelegationType.Read, again.Delegation.Type);
        Assert.Equal(NfsStat4.Ok, await other.Session.DelegReturnAsync(freshFile, again.Delegation.StateId).Bounded());
        Assert.Equal(NfsStat4.Ok, (await a.Session.CloseAsync(file, held.StateId).Bounded()).Status);
    }

    private static async Task RecallAcrossNodesAsync(ClusterNode nodeA, ClusterNode nodeB)
    {
        await using var a = await CrossNodeRecallTests.ConnectWithBackChannelAsync(nodeA);
        await using var b = await nodeB.ConnectPlainAsync();
        // A node may pause at P while a member dies (a keepalive answer late on a loaded machine: 6010, no new
        // delegations until etcd answers again, 6013): the cluster goes on when a read open gets its delegation again.
        FileHandle root = default!, file = default!;
        string name = "";
        OpenedFile? readOnA = null;
        await Waits.WaitUntilAsync(async () =>
        {
            (root, name, file) = await CrossNodeRecallTests.NewFileAsync(nodeA);
            readOnA = (await a.Session.OpenAsync(root, name, ShareAccess.Read).Bounded()).ValueOrThrow();
            if (readOnA.Delegation.Type == DelegationType.Read)
                return true;
            Assert.Equal(NfsStat4.Ok, (await a.Session.CloseAsync(file, readOnA.StateId).Bounded()).Status);
            return false;
        }, "node A grants a read delegation again after an etcd member was killed");
        Assert.NotNull(readOnA);
        Assert.Equal(NfsStat4.Delay, (await b.OpenAsync(root, name, ShareAccess.Write).Bounded()).Status);
        var recall = await CrossNodeRecallTests.NextRecallAsync(a);
        Assert.Equal(readOnA.Delegation.StateId.Other, recall.StateId.Other);
        Assert.Equal(NfsStat4.Ok, await a.Session.DelegReturnAsync(file, readOnA.Delegation.StateId).Bounded());
        var writeOnB = (await ClusterHandleTests.RetryWhileDelayAsync(() => b.OpenAsync(root, name, ShareAccess.Write))).ValueOrThrow();
        Assert.Equal(NfsStat4.Ok, (await b.CloseAsync(writeOnB.FileHandle, writeOnB.StateId).Bounded()).Status);
        Assert.Equal(NfsStat4.Ok, (await a.Session.CloseAsync(file, readOnA.StateId).Bounded()).Status);
    }
}
