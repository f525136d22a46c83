using Leasehold.Cluster.Tests.Etcd;

namespace Leasehold.Cluster.Tests;

/// <summary>
/// A test class that runs three real etcd members and in-process nodes against them: starts the members (unless etcd
/// is not installed, when the <see cref="EtcdFactAttribute"/> tests skip), and at the end disposes every node, writing
/// its log to stderr for a failing test, then the members.
/// </summary>
public abstract class EtcdNodeTests : IAsyncLifetime
{
    private protected EtcdClusterFixture Etcd { get; } = new();

    private protected List<ClusterNode> Nodes { get; } = [];

    public async Task InitializeAsync()
    {
        if (EtcdClusterFixture.Unavailable is null)
            await Etcd.StartAsync();
    }

    public virtual async Task DisposeAsync()
    {
        foreach (var node in Nodes)
        {
            Console.Error.WriteLine($"--- node {node.Cluster.Node}:\n{node.Log}");
            await node.DisposeAsync();
        }
        await Etcd.DisposeAsync();
    }

    /// <summary>Starts a node with the tests' options (<see cref="ClusterNode.Options"/>), changed by <paramref name="configure"/>; disposed with the test.</summary>
    private protected async Task<ClusterNode> NodeAsync(string name, Action<ClusterOptions>? configure = null)
    {
        var options = ClusterNode.Options(Etcd.Endpoints, name);
        configure?.Invoke(options);
        var node = await ClusterNode.StartAsync(options);
        Nodes.Add(node);
        return node;
    }
}
