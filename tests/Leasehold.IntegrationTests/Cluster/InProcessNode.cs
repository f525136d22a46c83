using System.Net;
using Leasehold.Engine;
using Leasehold.Export;
using Leasehold.Nfs4;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Server;
using Microsoft.Extensions.Logging.Abstractions;

namespace Leasehold.IntegrationTests.Cluster;

/// <summary>
/// The NFS layers of one server built by hand in this process (engine, tree, <see cref="Nfs4Server"/>, RPC on
/// 127.0.0.1, port 0), with the handle key and the cluster node name given, and no etcd: for what the NFS layer does
/// in cluster mode on its own (server owner, fsid, the GETATTR break), with the engine at hand to stand for another
/// node's grants. Delegations are granted unguarded (ExclusiveExport).
/// </summary>
internal sealed class InProcessNode : IAsyncDisposable
{
    private readonly LocalDirectoryTree _tree;
    private readonly Nfs4Server _nfs;
    private readonly RpcServer _rpc;

    private InProcessNode(LeaseEngine engine, LocalDirectoryTree tree, Nfs4Server nfs, RpcServer rpc)
    {
        Engine = engine;
        _tree = tree;
        _nfs = nfs;
        _rpc = rpc;
    }

    public LeaseEngine Engine { get; }

    public Nfs4Server Server => _nfs;

    public LocalDirectoryTree Tree => _tree;

    public IPEndPoint EndPoint => _rpc.LocalEndPoint ?? throw new InvalidOperationException("Not listening.");

    public static InProcessNode Start(string exportPath, string statePath, byte[] handleKey, string? clusterNode)
    {
        var export = new ExportOptions { Path = exportPath, StateDirectory = statePath };
        var options = new Nfs4Options { LeaseTime = ServerFixture.DefaultLeaseTime, Delegations = DelegationPolicy.ExclusiveExport };
        var engine = new LeaseEngine(new LeaseEngineOptions { DelegationBreakTime = options.LeaseTime }, TimeProvider.System, OwnerMatchers.SameGroup);
        var tree = new LocalDirectoryTree(export, new EngineChangeGate(engine), NullLogger<LocalDirectoryTree>.Instance, handleKey: handleKey);
        var nfs = new Nfs4Server(tree, engine, export, options, TimeProvider.System, NullLoggerFactory.Instance, clusterNode: clusterNode);
        var rpc = new RpcServer([nfs.Program], new RpcOptions(), NullLogger<RpcServer>.Instance, TimeProvider.System);
        rpc.Start(new IPEndPoint(IPAddress.Loopback, 0));
        return new InProcessNode(engine, tree, nfs, rpc);
    }

    public Task<Leasehold.Nfs4.Client.Nfs4Session> ConnectAsync(Leasehold.Nfs4.Client.Nfs4SessionOptions? options = null) =>
        Leasehold.Nfs4.Client.Nfs4Session.ConnectAsync(EndPoint, Leasehold.Nfs4.Client.Rpc.RpcAuth.Root, options).WaitAsync(Waits.Timeout);

    public async ValueTask DisposeAsync()
    {
        await _rpc.DisposeAsync();
        await _nfs.DisposeAsync();
        _tree.Dispose();
        await Engine.DisposeAsync();
    }
}
