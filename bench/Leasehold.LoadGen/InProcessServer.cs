using System.Net;
using Leasehold.Engine;
using Leasehold.Export;
using Leasehold.Nfs4;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Server;
using Microsoft.Extensions.Logging.Abstractions;

namespace Leasehold.LoadGen;

/// <summary>
/// Leasehold in this process, wired as <c>leasehold serve</c> wires it (engine, exported tree, NFSv4.1 state, RPC
/// listener on 127.0.0.1, a free port), so a benchmark can weigh the server's heap with <see cref="GC.GetTotalMemory(bool)"/>.
/// </summary>
internal sealed class InProcessServer : IAsyncDisposable
{
    private readonly LeaseEngine _engine;
    private readonly LocalDirectoryTree _tree;
    private readonly Nfs4Server _nfs;
    private readonly RpcServer _rpc;

    private InProcessServer(LeaseEngine engine, LocalDirectoryTree tree, Nfs4Server nfs, RpcServer rpc) =>
        (_engine, _tree, _nfs, _rpc) = (engine, tree, nfs, rpc);

    public IPEndPoint EndPoint => _rpc.LocalEndPoint!;

    /// <summary>
    /// Starts a server exporting <paramref name="exportPath"/>, its handle key in <paramref name="stateDirectory"/>, the
    /// engine retiring idle file state every <paramref name="idleSweep"/>.
    /// </summary>
    public static InProcessServer Start(string exportPath, string stateDirectory, Nfs4Options nfsOptions, TimeSpan idleSweep)
    {
        var engineOptions = new LeaseEngineOptions { DelegationBreakTime = nfsOptions.LeaseTime, IdleSweepInterval = idleSweep };
        var engine = new LeaseEngine(engineOptions, TimeProvider.System, OwnerMatchers.SameGroup);
        var export = new ExportOptions { Path = exportPath, StateDirectory = stateDirectory };
        var tree = new LocalDirectoryTree(export, new EngineChangeGate(engine), NullLogger<LocalDirectoryTree>.Instance);
        var nfs = new Nfs4Server(tree, engine, export, nfsOptions, TimeProvider.System, NullLoggerFactory.Instance);
        var rpc = new RpcServer([nfs.Program], new RpcOptions(), NullLogger<RpcServer>.Instance, TimeProvider.System);
        rpc.Start(new IPEndPoint(IPAddress.Loopback, 0));
        return new InProcessServer(engine, tree, nfs, rpc);
    }

    public async ValueTask DisposeAsync()
    {
        await _rpc.DisposeAsync();
        await _nfs.DisposeAsync();
        _tree.Dispose();
        await _engine.DisposeAsync();
    }
}
