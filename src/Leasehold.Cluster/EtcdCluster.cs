using System.Security.Cryptography;
using Google.Protobuf;
using Leasehold.Engine;
using Microsoft.Extensions.Logging;

namespace Leasehold.Cluster;

/// <summary>
/// This node's membership in a Leasehold cluster, with etcd as the grant authority (docs/architecture.md "Cluster").
/// The host joins (<see cref="JoinAsync"/>), hands <see cref="Tokens"/> and <see cref="Authority"/> to its
/// <see cref="LeaseEngine"/>, agrees on the handle key and the root with the other nodes, then <see cref="Bind"/>s the
/// engine, which starts answering other nodes. Disposing leaves: both etcd leases are revoked, so the node's keys go at once.
/// </summary>
public sealed class EtcdCluster : IAsyncDisposable
{
    private readonly EtcdSession _session;
    private readonly TokenTable _tokens;
    private int _disposed;

    private EtcdCluster(EtcdSession session, TokenTable tokens)
    {
        _session = session;
        _tokens = tokens;
        Authority = new ClusterAuthority(session);
    }

    /// <summary>
    /// Joins the cluster: grants the node's etcd leases and registers its name.
    /// </summary>
    /// <exception cref="ArgumentException">The options are invalid (<see cref="ClusterOptions.Validate"/>).</exception>
    /// <exception cref="ClusterJoinException">No etcd member answered within <see cref="ClusterOptions.ConnectTimeout"/>, or a live node already has the name. One-line message.</exception>
    public static async Task<EtcdCluster> JoinAsync(ClusterOptions options, TimeProvider timeProvider, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var logger = loggerFactory.CreateLogger("Leasehold.Cluster");
        var session = await EtcdSession.OpenAsync(options, timeProvider, logger, cancellationToken).ConfigureAwait(false);
        return new EtcdCluster(session, new TokenTable(session, options, timeProvider, logger));
    }

    /// <summary>This node's name.</summary>
    public string Node => _session.Keys.Node;

    /// <summary>The node's per-file tokens, for <see cref="LeaseEngine"/>'s <c>tokens</c> argument.</summary>
    public IFileTokens Tokens => _tokens;

    /// <summary>Admits grants unless the node is fenced; goes in as the inner authority of the host's chain.</summary>
    public IGrantAuthority Authority { get; }

    /// <summary>Whether the node is cut off from the cluster (etcd silent for half the lease TTL, or rejoining): no delegations, no new rights beyond open ones.</summary>
    public bool IsFenced => _session.IsFenced;

    /// <summary>Token writes etcd accepted since the join (an uncontended acquisition is one).</summary>
    public long TokenAcquisitions => _tokens.Acquisitions;

    /// <summary>The lease TTL etcd granted.</summary>
    public TimeSpan LeaseTtl => _session.Ttl;

    /// <summary>
    /// The cluster's file-handle key: <paramref name="candidate"/> if this is the first node to offer one, else the key
    /// the first node offered. Every node must sign handles with it so a handle from one node works on every node.
    /// </summary>
    public async Task<byte[]> ShareHandleKeyAsync(byte[] candidate, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(candidate);
        var value = await _session.PutIfAbsentAsync(_session.Keys.HandleKey, ByteString.CopyFrom(candidate), cancellationToken).ConfigureAwait(false);
        return value.ToByteArray();
    }

    /// <summary>Records <paramref name="rootHandle"/> as the cluster's root if it has none; else checks this node exports the same directory.</summary>
    /// <exception cref="ClusterJoinException">The cluster's root handle differs: the node exports another directory, or signs with another key. One-line message.</exception>
    public async Task CheckRootAsync(ReadOnlyMemory<byte> rootHandle, CancellationToken cancellationToken)
    {
        var mine = ByteString.CopyFrom(rootHandle.Span);
        var value = await _session.PutIfAbsentAsync(_session.Keys.Root, mine, cancellationToken).ConfigureAwait(false);
        if (!CryptographicOperations.FixedTimeEquals(value.Span, mine.Span))
            throw new ClusterJoinException($"node {Node} exports a different directory than the cluster (its root handle differs from {_session.Keys.Root.ToStringUtf8()} in etcd)");
    }

    /// <summary>Starts serving the cluster with <paramref name="engine"/>: the inbox and file watches, the linger sweep and the keepalive fencing.</summary>
    public void Bind(LeaseEngine engine)
    {
        ArgumentNullException.ThrowIfNull(engine);
        _tokens.Bind(engine);
        _session.Start(_tokens);
    }

    /// <summary>Stops every loop, revokes both leases (the node's keys go at once) and closes the connections.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        await _tokens.DisposeAsync().ConfigureAwait(false);
        await _session.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Test hook: stops every loop without revoking anything, as a killed process would; etcd expires the leases after their TTL.</summary>
    internal async ValueTask AbandonAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        await _tokens.DisposeAsync().ConfigureAwait(false);
        await _session.AbandonAsync().ConfigureAwait(false);
    }

    internal EtcdSession Session => _session;

    internal TokenTable Table => _tokens;
}
