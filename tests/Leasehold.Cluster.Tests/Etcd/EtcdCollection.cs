namespace Leasehold.Cluster.Tests.Etcd;

/// <summary>
/// The test classes that start etcd members run one after another: their timing assertions (fencing at TTL/2, rights
/// freed after the TTL) need a machine not also busy starting three other members.
/// </summary>
[CollectionDefinition(Name)]
public sealed class EtcdCollection
{
    public const string Name = "etcd";
}
