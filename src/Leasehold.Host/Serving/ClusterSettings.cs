using Leasehold.Cluster;

namespace Leasehold.Host.Serving;

/// <summary>
/// Whether this server is one node of a cluster over one shared tree, with etcd as the grant authority (issue 11), and
/// how long its claims last. Bound from the "Cluster" section; <c>serve --cluster etcd=URL[,URL...] --node NAME</c> set
/// <see cref="Etcd"/> and <see cref="Node"/>. With no <see cref="Etcd"/> the server serves on its own and never contacts
/// etcd. One value per key, as every other section: the endpoints are one comma-separated list.
/// </summary>
public sealed class ClusterSettings
{
    private static readonly ClusterOptions Defaults = new();

    /// <summary>
    /// The etcd client endpoints, comma-separated: <c>http://10.0.0.1:2379,http://10.0.0.2:2379</c> (a missing scheme
    /// means http). Empty (the default): not a cluster.
    /// </summary>
    public string? Etcd { get; set; }

    /// <summary>This node's name, unique among the live nodes of the cluster: 1 to 63 of A-Z, a-z, 0-9, '.', '_', '-'. Required with <see cref="Etcd"/>.</summary>
    public string? Node { get; set; }

    /// <summary>
    /// The TTL of the node's etcd lease, which carries its tokens: after this long without etcd, another node may take
    /// them; this node stops granting delegations at half of it and has revoked them before it ends. Whole seconds,
    /// 2 s to 1 h. 10 s: a few missed keepalives on a LAN.
    /// </summary>
    public TimeSpan LeaseTtl { get; set; } = Defaults.LeaseTtl;

    /// <summary>
    /// The TTL of the second etcd lease, which carries the node's open claims (the read/write rights its clients' opens
    /// use): a node cut off from etcd keeps serving its existing opens this long. Whole seconds, at least
    /// <see cref="LeaseTtl"/>, at most a day. 300 s.
    /// </summary>
    public TimeSpan OpenClaimTtl { get; set; } = Defaults.OpenClaimTtl;

    /// <summary>A file's token nothing local has used for this long gives back its unused rights, so other nodes need not ask. Positive, at most a day. 30 s.</summary>
    public TimeSpan TokenLinger { get; set; } = Defaults.TokenLinger;

    /// <summary>
    /// For tests and debugging: a file to append a line to each time this node's rights on a file change
    /// (<c>TIMESTAMP NODE FILE-HEX BEFORE AFTER</c>), which the cluster's randomized test replays. Unset: none.
    /// </summary>
    public string? HistoryFile { get; set; }

    /// <summary>Whether the server joins a cluster (<see cref="Etcd"/> names an endpoint).</summary>
    public bool Enabled => !string.IsNullOrWhiteSpace(Etcd);

    /// <summary>The endpoints <see cref="Etcd"/> names, trimmed, in order.</summary>
    public IReadOnlyList<string> Endpoints =>
        Etcd is null ? [] : [.. Etcd.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)];

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad setting (its ParamName is the key).</summary>
    public void Validate()
    {
        if (!Enabled)
        {
            if (!string.IsNullOrEmpty(Node))
                throw new ArgumentException("a node name means nothing outside a cluster: join one with --cluster etcd=URL (Cluster:Etcd)", nameof(Node));
            return;
        }
        if (Endpoints.Count == 0 || Etcd!.Split(',').Any(string.IsNullOrWhiteSpace))
            throw new ArgumentException("an empty endpoint in the list; write etcd=URL[,URL...] such as etcd=http://10.0.0.1:2379,http://10.0.0.2:2379", nameof(Etcd));
        foreach (string endpoint in Endpoints)
        {
            string url = endpoint.Contains("://", StringComparison.Ordinal) ? endpoint : "http://" + endpoint;
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
                || uri.AbsolutePath != "/" || uri.Query.Length != 0 || uri.Fragment.Length != 0 || uri.Host.Length == 0)
                throw new ArgumentException($"{endpoint} is not an etcd endpoint; write http://HOST:PORT or https://HOST:PORT", nameof(Etcd));
        }
        if (string.IsNullOrEmpty(Node))
            throw new ArgumentException("a cluster node needs a name: --node NAME (Cluster:Node)", nameof(Etcd));
        if (!ClusterOptions.IsNodeName(Node))
            throw new ArgumentException("Node must be 1 to 63 of A-Z, a-z, 0-9, '.', '_' and '-'", nameof(Node));
        if (LeaseTtl < TimeSpan.FromSeconds(2) || LeaseTtl > TimeSpan.FromHours(1) || LeaseTtl.Ticks % TimeSpan.TicksPerSecond != 0)
            throw new ArgumentException("LeaseTtl must be whole seconds from 2 s to 1 h", nameof(LeaseTtl));
        if (OpenClaimTtl < LeaseTtl || OpenClaimTtl > TimeSpan.FromDays(1) || OpenClaimTtl.Ticks % TimeSpan.TicksPerSecond != 0)
            throw new ArgumentException("OpenClaimTtl must be whole seconds, at least Cluster:LeaseTtl and at most a day", nameof(OpenClaimTtl));
        if (TokenLinger <= TimeSpan.Zero || TokenLinger > TimeSpan.FromDays(1))
            throw new ArgumentException("TokenLinger must be positive and at most a day", nameof(TokenLinger));
    }

    /// <summary>
    /// The cluster layer's options for these settings (the others at their defaults). <paramref name="incarnation"/>
    /// names what only this node's own processes share (the machine and the state directory whose lock the caller holds).
    /// </summary>
    public ClusterOptions ToOptions(string? incarnation = null) => new()
    {
        Incarnation = incarnation,
        HistoryFile = string.IsNullOrEmpty(HistoryFile) ? null : HistoryFile,
        Etcd = Endpoints,
        Node = Node ?? "",
        LeaseTtl = LeaseTtl,
        OpenClaimTtl = OpenClaimTtl,
        TokenLinger = TokenLinger,
    };

}
