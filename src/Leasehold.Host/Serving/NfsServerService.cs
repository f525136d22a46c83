using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Leasehold.Cluster;
using Leasehold.Engine;
using Leasehold.Export;
using Leasehold.Export.LocalAccess;
using Leasehold.Host.Settings;
using Leasehold.Nfs4;
using Leasehold.Nfs4.State;
using Leasehold.Nfs4.State.Recovery;
using Leasehold.Recovery;
using Leasehold.Rpc.Server;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Leasehold.Host.Serving;

/// <summary>
/// Starts the layers bottom up (engine, exported tree, NFSv4.1 state, RPC listener) and stops them top down, so no
/// call arrives at a layer that is already gone. Stopping closes every connection and fails every parked breaker.
/// The state directory is locked for this server (<see cref="StateDirectoryLock"/>) and its client records opened
/// (<see cref="SqliteClientRecordStore"/>) before the NFS layer starts; both are released last at stop.
/// A start the machine refuses throws <see cref="StartupException"/> (no export, a corrupt handle key, a state directory
/// in use by another server, unreadable client records) or <see cref="RpcListenException"/> (an address in use), each
/// with one line naming the directory, the file or the address.
/// <para>
/// As a cluster node (<see cref="ClusterSettings.Enabled"/>) it joins the cluster right after locking the state
/// directory, before anything else exists: the cluster's handle key signs the tree's handles, the cluster's authority
/// admits the engine's grants, and the cluster's tokens gate the engine's opens, breaks and changes. The node checks
/// that it exports the cluster's root before it binds the engine to the cluster (from then on other nodes' requests
/// reach it) and starts serving. It leaves the cluster once the RPC server has stopped, before the engine goes.
/// A refused join (etcd unreachable, the name taken, another handle key or root) is a <see cref="StartupException"/>.
/// </para>
/// </summary>
internal sealed class NfsServerService(
    IOptions<ServerSettings> server,
    IOptions<ExportOptions> export,
    IOptions<LeaseEngineOptions> engineOptions,
    IOptions<Nfs4Options> nfsOptions,
    IOptions<RpcOptions> rpcOptions,
    IOptions<ClusterSettings> clusterSettings,
    ILoggerFactory loggers,
    TimeProvider time,
    ClientRecordStoreFactory? recordStores = null,
    IHostApplicationLifetime? lifetime = null) : IHostedService, IAsyncDisposable
{
    private readonly ILogger _logger = loggers.CreateLogger("Leasehold.Host");
    private LeaseEngine? _engine;
    private KernelLeaseAuthority? _authority;
    private LocalDirectoryTree? _tree;
    private Nfs4Server? _nfs;
    private RpcServer? _rpc;
    private StateDirectoryLock? _stateLock;
    private IClientRecordStore? _records;
    private EtcdCluster? _cluster;

    /// <summary>Where the server really listens (the port chosen when asked for 0).</summary>
    public IPEndPoint? EndPoint => _rpc?.LocalEndPoint;

    /// <summary>The running lease engine, for tests that check what it holds (<see cref="LeaseEngine.Snapshot"/>); null when stopped.</summary>
    internal LeaseEngine? Engine => _engine;

    /// <summary>How the running export guards delegated files against local processes (None when stopped or unguarded).</summary>
    internal LocalAccessMechanism LocalAccess => _tree?.Mechanism ?? LocalAccessMechanism.None;

    /// <summary>Guards (kernel leases) held for delegations right now; 0 when stopped.</summary>
    internal int GuardCount => _authority?.GuardCount ?? 0;

    /// <summary>The client records of the running server, for tests; null when stopped.</summary>
    internal IClientRecordStore? Records => _records;

    /// <summary>The running NFS server, for tests that look at its grace period; null when stopped.</summary>
    internal Nfs4Server? Nfs => _nfs;

    /// <summary>This node's membership of its cluster; null when stopped or not a cluster node.</summary>
    internal EtcdCluster? Cluster => _cluster;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var exportOptions = export.Value;
        // Bind first: an address in use is refused before anything is created or logged (the export directory, the
        // handle key, "Exporting ..."). Clients that connect meanwhile wait in the backlog until accepting starts.
        Socket? listener = RpcServer.Listen(server.Value.ParseListen());
        try
        {
            ExportDirectory.Prepare(exportOptions, server.Value.CreateExport);
            string stateDirectory = exportOptions.ResolvedStateDirectory;
            try
            {
                _stateLock = StateDirectoryLock.Acquire(stateDirectory); // before the handle key and the client records
            }
            catch (IOException ex)
            {
                throw new StartupException(ex.Message, StartupFault.Environment, ex);
            }
            var cluster = clusterSettings.Value;
            byte[]? handleKey = null;
            if (cluster.Enabled)
            {
                _cluster = await JoinAsync(cluster, stateDirectory, cancellationToken).ConfigureAwait(false);
                handleKey = await ShareHandleKeyAsync(_cluster, stateDirectory, cancellationToken).ConfigureAwait(false);
            }
            // Delegations get as long as a client's lease to come back: a client that renews in time can always answer.
            var engine = engineOptions.Value;
            engine.DelegationBreakTime = nfsOptions.Value.LeaseTime;
            // Delegations are admitted with a guard against local processes (a kernel lease) that the authority takes from
            // the tree; the tree reports local access to the sink, which breaks through the engine. The engine comes
            // first, holding the authority; the authority gets the tree once it exists.
            var policy = nfsOptions.Value.Delegations;
            _authority = new KernelLeaseAuthority(policy, inner: _cluster?.Authority, loggers.CreateLogger<KernelLeaseAuthority>());
            _engine = new LeaseEngine(engine, time, OwnerMatchers.SameGroup, _authority, loggers.CreateLogger<LeaseEngine>(), _cluster?.Tokens);
            var sink = policy == DelegationPolicy.On
                ? new EngineLocalAccessSink(_engine, _authority, logger: loggers.CreateLogger<EngineLocalAccessSink>())
                : null; // no delegations, or delegations without guards: nothing for local access to recall
            try
            {
                _tree = new LocalDirectoryTree(exportOptions, new EngineChangeGate(_engine), loggers.CreateLogger<LocalDirectoryTree>(), sink, handleKey);
            }
            catch (InvalidDataException ex)
            {
                throw new StartupException(ex.Message.TrimEnd('.'), StartupFault.Environment, ex); // the handle key: names the file and what to do
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
            {
                throw new StartupException($"cannot export {exportOptions.FullPath}: {ExportDirectory.Reason(ex)}", StartupFault.Environment, ex);
            }
            _authority.Bind(_tree);
            if (_cluster is not null)
            {
                await CheckRootAsync(_cluster, _tree.RootHandle, cancellationToken).ConfigureAwait(false);
                _cluster.Bind(_engine); // other nodes' recalls and the fencing clock reach the engine from now on
                Log.ClusterNode(_logger, _cluster.Node, string.Join(",", cluster.Endpoints), _cluster.LeaseTtl.TotalSeconds);
            }
            LogDelegations(policy, _tree);
            _records = recordStores is null ? new SqliteClientRecordStore(stateDirectory, time) : recordStores(stateDirectory, time);
            try
            {
                _nfs = new Nfs4Server(_tree, _engine, exportOptions, nfsOptions.Value, time, loggers, _records, clusterNode: _cluster?.Node);
            }
            catch (ClientRecordStoreException ex)
            {
                throw new StartupException(ex.Message, StartupFault.Environment, ex);
            }
            _rpc = new RpcServer([_nfs.Program], rpcOptions.Value, loggers.CreateLogger<RpcServer>(), time);
            _rpc.Start(listener);
            listener = null; // the server owns it now
        }
        catch
        {
            listener?.Dispose();
            await DisposeAsync().ConfigureAwait(false);
            throw;
        }
        // "Serving" means ready: said once every service of the host has started (the admin endpoint too), so whoever
        // waits for the line (an operator, a script, the tests) may stop the server or use the endpoint at once.
        var endPoint = _rpc.LocalEndPoint!;
        void Serving() => Log.Serving(_logger, exportOptions.FullPath, endPoint, nfsOptions.Value.LeaseTime.TotalSeconds,
            exportOptions.ReadOnly ? "read-only" : "read-write", exportOptions.RootSquash ? "root squashed" : "root not squashed",
            exportOptions.SyncDirectoryChanges ? "sync" : "async");
        if (lifetime is null)
            Serving();
        else
            lifetime.ApplicationStarted.Register(Serving);
    }

    /// <summary>
    /// Joins the cluster; a refusal (etcd unreachable, the node name taken) is one line and exit 1. The incarnation is this
    /// machine and state directory: this process holds its lock, so a node key left by the same incarnation belongs to a
    /// dead process (a crash, SIGKILL), and the join takes the name back at once instead of waiting out its lease.
    /// </summary>
    private async Task<EtcdCluster> JoinAsync(ClusterSettings cluster, string stateDirectory, CancellationToken cancellationToken)
    {
        try
        {
            string incarnation = $"{Environment.MachineName}:{Path.GetFullPath(stateDirectory)}";
            return await EtcdCluster.JoinAsync(cluster.ToOptions(incarnation), time, loggers, cancellationToken).ConfigureAwait(false);
        }
        catch (ClusterJoinException ex)
        {
            throw new StartupException(ex.Message.TrimEnd('.'), StartupFault.Environment, ex);
        }
    }

    /// <summary>
    /// The cluster's handle key, agreed with the other nodes: this node's own key (<c>STATE/handle-key</c>) if it is the
    /// first to offer one, so a single server that becomes the first node keeps its clients' handles; else the key the
    /// first node offered, installed in a state directory that has none. A node whose own key differs from the
    /// cluster's is refused: its clients' handles would go stale without a word, so the operator moves the key aside.
    /// </summary>
    private static async Task<byte[]> ShareHandleKeyAsync(EtcdCluster cluster, string stateDirectory, CancellationToken cancellationToken)
    {
        byte[]? local;
        try
        {
            local = HandleKeyFile.Read(stateDirectory);
        }
        catch (InvalidDataException ex)
        {
            throw new StartupException(ex.Message.TrimEnd('.'), StartupFault.Environment, ex);
        }
        byte[] key;
        try
        {
            key = await cluster.ShareHandleKeyAsync(local ?? HandleKeyFile.NewKey(), cancellationToken).ConfigureAwait(false);
        }
        catch (ClusterJoinException ex)
        {
            throw new StartupException(ex.Message.TrimEnd('.'), StartupFault.Environment, ex);
        }
        if (key.Length != HandleKeyFile.KeySize)
            throw new StartupException($"the cluster's handle key in etcd has {key.Length} bytes, not {HandleKeyFile.KeySize}", StartupFault.Environment);
        local ??= HandleKeyFile.Install(stateDirectory, key); // another server racing for the directory is refused by its lock
        if (!CryptographicOperations.FixedTimeEquals(local, key))
            throw new StartupException($"the handle key in {HandleKeyFile.PathIn(stateDirectory)} differs from the cluster's: move it aside to join (the handles this server gave out go stale)",
                StartupFault.Environment);
        return key;
    }

    /// <summary>Records the root as the cluster's, or checks it is: a node that exports another directory is refused.</summary>
    private static async Task CheckRootAsync(EtcdCluster cluster, FileHandle root, CancellationToken cancellationToken)
    {
        try
        {
            await cluster.CheckRootAsync(root.Span.ToArray(), cancellationToken).ConfigureAwait(false);
        }
        catch (ClusterJoinException ex)
        {
            throw new StartupException(ex.Message.TrimEnd('.'), StartupFault.Environment, ex);
        }
    }

    /// <summary>One line on what keeps delegations honest against local processes (the export has said how it guards).</summary>
    private void LogDelegations(DelegationPolicy policy, LocalDirectoryTree tree)
    {
        switch (policy)
        {
            case DelegationPolicy.Off:
                Log.DelegationsOff(_logger);
                break;
            case DelegationPolicy.ExclusiveExport:
                Log.DelegationsUnguarded(_logger);
                break;
            case DelegationPolicy.On when tree.Mechanism == LocalAccessMechanism.None:
                // The export's Warning (2011) said why; this says what follows from it.
                Log.DelegationsWithoutGuard(_logger, tree.UnavailableReason ?? "no guard");
                break;
            default:
                Log.DelegationsGuarded(_logger, tree.Mechanism, tree.Mechanism == LocalAccessMechanism.Delegations
                    ? "local opens, truncates, unlinks, renames, links and attribute changes wait for the recall"
                    : "local opens and truncates wait for the recall; unlink, rename, link, attribute changes and writes through descriptors opened earlier recall after the fact");
                break;
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        Log.Stopping(_logger);
        if (_rpc is not null)
            await _rpc.StopAsync().ConfigureAwait(false);
        await DisposeAsync().ConfigureAwait(false);
        Log.Stopped(_logger);
    }

    public async ValueTask DisposeAsync()
    {
        if (_rpc is not null)
            await _rpc.DisposeAsync().ConfigureAwait(false);
        if (_nfs is not null)
            await _nfs.DisposeAsync().ConfigureAwait(false);
        // No client reaches this node any more: leave the cluster (both etcd leases revoked, so other nodes may take
        // this node's rights at once) before the engine goes, so no recall from another node reaches a disposed engine.
        if (_cluster is not null)
            await _cluster.DisposeAsync().ConfigureAwait(false);
        _authority?.ReleaseAll(); // the kernel leases go with the tree: no local process waits on a server that is stopping
        _tree?.Dispose();
        if (_engine is not null)
            await _engine.DisposeAsync().ConfigureAwait(false);
        _records?.Dispose(); // the records stay on disk for the next start
        _stateLock?.Dispose(); // last: the next server may take the directory now
        _rpc = null;
        _nfs = null;
        _tree = null;
        _engine = null;
        _authority = null;
        _records = null;
        _cluster = null;
        _stateLock = null;
    }
}

/// <summary>
/// Makes the client record store of a server on <c>stateDirectory</c>; registered as a service it replaces the SQLite
/// store (tests wrap it to inject faults such as a full disk).
/// </summary>
internal delegate IClientRecordStore ClientRecordStoreFactory(string stateDirectory, TimeProvider time);

/// <summary>Host log events (ids 5xxx).</summary>
internal static partial class Log
{
    [LoggerMessage(5001, LogLevel.Information, "Serving {Path} over NFSv4.1 and 4.2 on {EndPoint} (lease time {LeaseSeconds} s, {Access}, {Squash}, {DirectoryChanges} directory changes)")]
    public static partial void Serving(ILogger logger, string path, EndPoint endPoint, double leaseSeconds, string access, string squash, string directoryChanges);

    [LoggerMessage(5002, LogLevel.Information, "Shutting down: closing connections and releasing state")]
    public static partial void Stopping(ILogger logger);

    [LoggerMessage(5003, LogLevel.Information, "Stopped")]
    public static partial void Stopped(ILogger logger);

    [LoggerMessage(5004, LogLevel.Information, "Delegations are guarded against local processes by {Mechanism}: {What}")]
    public static partial void DelegationsGuarded(ILogger logger, LocalAccessMechanism mechanism, string what);

    [LoggerMessage(5005, LogLevel.Information, "No delegations: local access is not guarded ({Reason}); set Nfs4:Delegations to ExclusiveExport if nothing but this server touches the export")]
    public static partial void DelegationsWithoutGuard(ILogger logger, string reason);

    [LoggerMessage(5006, LogLevel.Information, "Delegations are granted without guards against local processes (Nfs4:Delegations = ExclusiveExport): a local process that touches the export does not recall them")]
    public static partial void DelegationsUnguarded(ILogger logger);

    [LoggerMessage(5007, LogLevel.Information, "Delegations are off (Nfs4:Delegations = Off)")]
    public static partial void DelegationsOff(ILogger logger);

    [LoggerMessage(5008, LogLevel.Information, "Cluster node {Node} joined through etcd {Endpoints} (etcd lease TTL {TtlSeconds} s)")]
    public static partial void ClusterNode(ILogger logger, string node, string endpoints, double ttlSeconds);
}
