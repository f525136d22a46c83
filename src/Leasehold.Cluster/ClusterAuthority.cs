using Leasehold.Engine;

namespace Leasehold.Cluster;

/// <summary>
/// The cluster's <see cref="IGrantAuthority"/>: admits every grant unless the node is fenced (etcd has not answered for
/// half the lease TTL, or the node is rejoining). Synchronous and cheap; the per-file rights themselves are checked by
/// the engine through <see cref="IFileTokens"/>.
/// </summary>
internal sealed class ClusterAuthority(EtcdSession session) : IGrantAuthority
{
    private static readonly ValueTask<bool> Yes = new(true);
    private static readonly ValueTask<bool> No = new(false);

    public ValueTask<bool> AdmitAsync(GrantRequest request, CancellationToken cancellationToken) => session.IsFenced ? No : Yes;

    public void OnGrantEnded(GrantRequest request, Grant? grant)
    {
    }
}
