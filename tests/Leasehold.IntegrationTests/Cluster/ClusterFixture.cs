using Leasehold.Cluster.Tests.Etcd;
using Leasehold.IntegrationTests.Recovery;
using Leasehold.Nfs4.Client;

namespace Leasehold.IntegrationTests.Cluster;

/// <summary>
/// A Leasehold cluster on this machine: three real etcd members (<see cref="EtcdClusterFixture"/>) and
/// <see cref="NodeCount"/> node processes (<c>leasehold serve EXPORT --cluster etcd=... --node nI</c>) over ONE export
/// directory, each with its own state directory (<c>ROOT/state-nI</c>) and log (<c>ROOT/nI.log</c>). The nodes run
/// with <c>Nfs4:Delegations = ExclusiveExport</c>: on one machine the nodes are local processes to each other, and
/// kernel leases would be a second recall path between them, hiding the token protocol under test. Short times:
/// an NFS lease of <see cref="LeaseTime"/> and an etcd lease TTL of <see cref="LeaseTtl"/>.
/// </summary>
/// <remarks>
/// Where etcd is not installed nothing starts, and the tests (<see cref="EtcdFactAttribute"/>) skip with the reason.
/// The first node starts alone (its handle key and root become the cluster's), the others then together.
/// </remarks>
public class ClusterFixture : IAsyncLifetime
{
    private ClusterNode[] _nodes = [];

    public ClusterFixture()
    {
        Root = Path.Join(Path.GetTempPath(), $"leasehold-cluster-{Guid.NewGuid():N}");
        Directory.CreateDirectory(ExportPath);
    }

    /// <summary>The temporary directory holding the export, every node's state directory and log.</summary>
    public string Root { get; }

    /// <summary>The one exported directory every node serves.</summary>
    public string ExportPath => Path.Join(Root, "export");

    public EtcdClusterFixture Etcd { get; } = new();

    public virtual int NodeCount => 3;

    /// <summary>Every node's NFS lease time (--lease-time), which is also how long a client has to return a recalled delegation.</summary>
    public virtual TimeSpan LeaseTime => TimeSpan.FromSeconds(5);

    /// <summary>Every node's etcd lease TTL (Cluster:LeaseTtl).</summary>
    public virtual TimeSpan LeaseTtl => TimeSpan.FromSeconds(3);

    /// <summary>The nodes, n1 first; empty when etcd is not installed.</summary>
    public IReadOnlyList<ClusterNode> Nodes => _nodes;

    /// <summary>Extra settings for one node's every start, on top of the cluster's own.</summary>
    protected internal virtual void Configure(string node, IDictionary<string, string> settings)
    {
    }

    public async Task InitializeAsync()
    {
        if (EtcdClusterFixture.Unavailable is not null)
            return;
        await Etcd.StartAsync();
        _nodes = [.. Enumerable.Range(1, NodeCount).Select(i => new ClusterNode(this, $"n{i}"))];
        await _nodes[0].StartAsync();
        await Task.WhenAll(_nodes.Skip(1).Select(n => n.StartAsync()));
    }

    /// <summary>Every node's log so far, node by node, for a failing test's output.</summary>
    public string Logs => string.Join("\n", _nodes.Select(n => $"----- {n.Name}\n{n.Log}"));

    public async Task DisposeAsync()
    {
        try
        {
            foreach (var node in _nodes)
                await node.DisposeAsync();
            await Etcd.DisposeAsync();
        }
        finally
        {
            if (Directory.Exists(Root))
                Directory.Delete(Root, recursive: true);
        }
    }
}

/// <summary>One node process of a <see cref="ClusterFixture"/>; killed, stopped and started as a <see cref="ProcessServerFixture"/>.</summary>
public sealed class ClusterNode : ProcessServerFixture
{
    private readonly ClusterFixture _cluster;

    public ClusterNode(ClusterFixture cluster, string name)
        : base(cluster.Root, name)
    {
        _cluster = cluster;
        Name = name;
    }

    public string Name { get; }

    public override TimeSpan LeaseTime => _cluster.LeaseTime;

    protected override IEnumerable<string> ExtraArguments => ["--cluster", "etcd=" + string.Join(",", _cluster.Etcd.Endpoints), "--node", Name];

    protected override void Configure(IDictionary<string, string> settings)
    {
        settings["Nfs4:Delegations"] = "ExclusiveExport";
        settings["Cluster:LeaseTtl"] = $"{_cluster.LeaseTtl.TotalSeconds:0}s";
        _cluster.Configure(Name, settings);
    }

    /// <summary>A new client of this node with no back channel (never granted a delegation).</summary>
    public Task<Nfs4Session> ConnectPlainAsync() => ConnectAsync(options: new Nfs4SessionOptions { BackChannel = false });
}
