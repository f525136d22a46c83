using System.Diagnostics;
using Etcdserverpb;
using Google.Protobuf;
using Leasehold.Engine;
using Leasehold.Testing;

namespace Leasehold.Cluster.Tests;

/// <summary>One in-process cluster node: an <see cref="EtcdCluster"/> bound to its own <see cref="LeaseEngine"/>, as the host wires them.</summary>
internal sealed class ClusterNode : IAsyncDisposable
{
    private ClusterNode(EtcdCluster cluster, LeaseEngine engine, RecordingHolder holder, TestLog log)
    {
        Log = log;
        Cluster = cluster;
        Engine = engine;
        Holder = holder;
    }

    public EtcdCluster Cluster { get; }

    /// <summary>Everything the node and its engine logged.</summary>
    public TestLog Log { get; }

    public LeaseEngine Engine { get; }

    /// <summary>Holds this node's grants; returns each at once when <see cref="ReturnOnBreak"/> is set, as a well-behaved client answers CB_RECALL.</summary>
    public RecordingHolder Holder { get; }

    public bool ReturnOnBreak { get; set; } = true;

    public static ClusterOptions Options(IReadOnlyList<string> etcd, string node) => new()
    {
        Etcd = etcd,
        Node = node,
        Prefix = "/t/",
        LeaseTtl = TimeSpan.FromSeconds(2),
        OpenClaimTtl = TimeSpan.FromSeconds(6),
        RecallTimeout = TimeSpan.FromSeconds(5),
    };

    public static async Task<ClusterNode> StartAsync(ClusterOptions options)
    {
        var log = new TestLog();
        var cluster = await EtcdCluster.JoinAsync(options, TimeProvider.System, log, default);
        var engine = new LeaseEngine(
            new LeaseEngineOptions { DelegationBreakTime = TimeSpan.FromSeconds(10), IdleSweepInterval = TimeSpan.FromMilliseconds(250) },
            authority: cluster.Authority,
            ownerMatcher: OwnerMatchers.SameGroup,
            logger: new Microsoft.Extensions.Logging.Logger<LeaseEngine>(log),
            tokens: cluster.Tokens);
        var holder = new RecordingHolder(options.Node);
        var node = new ClusterNode(cluster, engine, holder, log);
        holder.OnBreakAction = (grant, _) =>
        {
            if (node.ReturnOnBreak)
                ThreadPool.QueueUserWorkItem(_ => engine.Release(grant));
        };
        cluster.Bind(engine);
        return node;
    }

    public ValueTask<GrantResult> DelegateAsync(FileKey file, GrantMode mode, ulong client = 1) =>
        Engine.GrantAsync(new GrantRequest(file, new Owner(client, 1), GrantKind.Delegation, mode, Holder));

    /// <summary>This node's token and open-claim values in etcd for <paramref name="file"/> (None when absent), with their leases.</summary>
    public async Task<(TokenRights Token, long TokenLease, TokenRights Open, long OpenLease)> KeysAsync(FileKey file)
    {
        var keys = Cluster.Session.Keys;
        var range = keys.FileRange(file);
        var got = await Cluster.Session.Connection.GetAsync(new RangeRequest { Key = range, RangeEnd = ClusterKeys.RangeEnd(range) }, default);
        (TokenRights, long) tok = default, open = default;
        foreach (var kv in got.Kvs)
        {
            if (kv.Key == keys.Token(file, keys.Node))
                tok = (ClusterKeys.ParseRights(kv.Value), kv.Lease);
            else if (kv.Key == keys.OpenClaim(file, keys.Node))
                open = (ClusterKeys.ParseRights(kv.Value), kv.Lease);
        }
        return (tok.Item1, tok.Item2, open.Item1, open.Item2);
    }

    public async ValueTask DisposeAsync()
    {
        await Cluster.DisposeAsync();
        await Engine.DisposeAsync();
    }
}

internal static class Eventually
{
    /// <summary>Polls <paramref name="condition"/> every 20 ms until it holds; fails the test after <paramref name="within"/>.</summary>
    public static async Task TrueAsync(Func<Task<bool>> condition, TimeSpan within, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > within)
                Assert.Fail($"not true within {within}: {what}");
            await Task.Delay(20);
        }
    }

    public static Task TrueAsync(Func<bool> condition, TimeSpan within, string what) => TrueAsync(() => Task.FromResult(condition()), within, what);
}

internal static class Bytes
{
    public static ByteString Utf8(string s) => ByteString.CopyFromUtf8(s);
}
