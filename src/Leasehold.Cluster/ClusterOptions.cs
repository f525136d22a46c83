using System.Text.RegularExpressions;

namespace Leasehold.Cluster;

/// <summary>
/// How a node joins a cluster and how long its claims last. The defaults suit a LAN: a node that stops answering
/// loses its delegation rights after about <see cref="LeaseTtl"/>, and the opens it had after <see cref="OpenClaimTtl"/>.
/// </summary>
public sealed partial class ClusterOptions
{
    /// <summary>The etcd client endpoints, e.g. <c>http://10.0.0.1:2379</c> (a missing scheme means http).</summary>
    public IReadOnlyList<string> Etcd { get; set; } = [];

    /// <summary>This node's name, unique among the live nodes: <c>[A-Za-z0-9._-]{1,63}</c>.</summary>
    public string Node { get; set; } = "";

    /// <summary>Where the cluster's keys live in etcd; ends with '/'. Several clusters may share one etcd under different prefixes.</summary>
    public string Prefix { get; set; } = "/leasehold/";

    /// <summary>
    /// The TTL of the node's short etcd lease, which carries its tokens. After this long without etcd another node may
    /// take the rights; the node itself stops granting at half of it and has revoked its delegations before it ends
    /// (docs/architecture.md "Cluster"). etcd raises a TTL below its minimum (1.5 election timeouts); the granted TTL counts.
    /// </summary>
    public TimeSpan LeaseTtl { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The TTL of the long etcd lease that carries the node's open claims (the R/W rights its opens use), which a node cut off from etcd keeps serving.</summary>
    public TimeSpan OpenClaimTtl { get; set; } = TimeSpan.FromSeconds(300);

    /// <summary>A token nothing local has asked for during this long is given back (its unused rights), so other nodes need not ask for it.</summary>
    public TimeSpan TokenLinger { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a Want (rights for a delegation) waits for other nodes to give up unused rights before the grant is refused.</summary>
    public TimeSpan WantTimeout { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>How long a node's clients get to return delegations another node's Need recalls (the engine then revokes them).</summary>
    public TimeSpan RecallTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long joining waits for etcd before giving up with <see cref="ClusterJoinException"/>.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// What only this node's own incarnations share: the host gives its machine name and state directory, which one
    /// process at a time holds (its lock file). A node key left in etcd by an incarnation with the same identity belongs to
    /// a dead process — this one holds the state directory now — so the join revokes its leases at once instead of
    /// refusing the name until they expire. Null: a key with the node's name always refuses the join.
    /// </summary>
    public string? Incarnation { get; set; }

    /// <summary>
    /// For tests and debugging: a file to append one line per change of this node's rights on a file
    /// (<c>TIMESTAMP NODE FILE-HEX BEFORE AFTER</c>, Stopwatch timestamps), which a checker replays. Null: none.
    /// </summary>
    public string? HistoryFile { get; set; }

    internal string NormalizedPrefix => Prefix.EndsWith('/') ? Prefix : Prefix + "/";

    /// <summary>The endpoints as absolute URIs.</summary>
    internal IReadOnlyList<Uri> EndpointUris =>
        [.. Etcd.Select(e => new Uri(e.Contains("://", StringComparison.Ordinal) ? e : "http://" + e))];

    /// <summary>Throws <see cref="ArgumentException"/> with a one-line message naming the first bad setting.</summary>
    public void Validate()
    {
        if (Etcd.Count == 0)
            throw new ArgumentException("Cluster:Etcd names no etcd endpoint");
        foreach (string e in Etcd)
        {
            string url = e.Contains("://", StringComparison.Ordinal) ? e : "http://" + e;
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != "http" && uri.Scheme != "https") || uri.AbsolutePath != "/")
                throw new ArgumentException($"Cluster:Etcd endpoint '{e}' is not an http(s)://host:port URL");
        }
        if (!IsNodeName(Node))
            throw new ArgumentException($"Cluster:Node '{Node}' is not a node name ([A-Za-z0-9._-], 1 to 63 characters)");
        if (string.IsNullOrEmpty(Prefix) || !Prefix.StartsWith('/'))
            throw new ArgumentException($"Cluster:Prefix '{Prefix}' must start with '/'");
        if (LeaseTtl < TimeSpan.FromSeconds(2) || LeaseTtl > TimeSpan.FromHours(1) || LeaseTtl.Ticks % TimeSpan.TicksPerSecond != 0)
            throw new ArgumentException($"Cluster:LeaseTtl {LeaseTtl} must be whole seconds between 2 s and 1 h");
        if (OpenClaimTtl < LeaseTtl || OpenClaimTtl > TimeSpan.FromDays(1) || OpenClaimTtl.Ticks % TimeSpan.TicksPerSecond != 0)
            throw new ArgumentException($"Cluster:OpenClaimTtl {OpenClaimTtl} must be whole seconds, at least Cluster:LeaseTtl and at most a day");
        if (TokenLinger <= TimeSpan.Zero)
            throw new ArgumentException($"Cluster:TokenLinger {TokenLinger} must be positive");
        if (WantTimeout < TimeSpan.Zero || WantTimeout > TimeSpan.FromSeconds(10))
            throw new ArgumentException($"Cluster:WantTimeout {WantTimeout} must be between 0 and 10 s");
        if (RecallTimeout <= TimeSpan.Zero)
            throw new ArgumentException($"Cluster:RecallTimeout {RecallTimeout} must be positive");
        if (ConnectTimeout <= TimeSpan.Zero)
            throw new ArgumentException($"Cluster:ConnectTimeout {ConnectTimeout} must be positive");
    }

    /// <summary>Whether <paramref name="name"/> can name a node: 1 to 63 of A-Z, a-z, 0-9, '.', '_' and '-' (it becomes part of etcd keys).</summary>
    public static bool IsNodeName(string name) => NodeName().IsMatch(name);

    [GeneratedRegex("^[A-Za-z0-9._-]{1,63}$")]
    private static partial Regex NodeName();
}

/// <summary>A node cannot join the cluster: etcd is unreachable, the node name is taken, or the node's export or handle key differs from the cluster's. The message is one line.</summary>
public sealed class ClusterJoinException : Exception
{
    public ClusterJoinException(string message) : base(message)
    {
    }

    public ClusterJoinException(string message, Exception inner) : base(message, inner)
    {
    }

    public ClusterJoinException()
    {
    }
}
