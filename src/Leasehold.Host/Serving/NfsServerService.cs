using System.Net;
using System.Net.Sockets;
using Leasehold.Engine;
using Leasehold.Export;
using Leasehold.Host.Settings;
using Leasehold.Nfs4;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Server;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Leasehold.Host.Serving;

/// <summary>
/// Starts the layers bottom up (engine, exported tree, NFSv4.1 state, RPC listener) and stops them top down, so no
/// call arrives at a layer that is already gone. Stopping closes every connection and fails every parked breaker.
/// A start the machine refuses throws <see cref="StartupException"/> (no export, a corrupt handle key) or
/// <see cref="RpcListenException"/> (an address in use), each with one line naming the directory, the file or the address.
/// </summary>
internal sealed class NfsServerService(
    IOptions<ServerSettings> server,
    IOptions<ExportOptions> export,
    IOptions<LeaseEngineOptions> engineOptions,
    IOptions<Nfs4Options> nfsOptions,
    IOptions<RpcOptions> rpcOptions,
    ILoggerFactory loggers,
    TimeProvider time) : IHostedService, IAsyncDisposable
{
    private readonly ILogger _logger = loggers.CreateLogger("Leasehold.Host");
    private LeaseEngine? _engine;
    private LocalDirectoryTree? _tree;
    private Nfs4Server? _nfs;
    private RpcServer? _rpc;

    /// <summary>Where the server really listens (the port chosen when asked for 0).</summary>
    public IPEndPoint? EndPoint => _rpc?.LocalEndPoint;

    /// <summary>The running lease engine, for tests that check what it holds (<see cref="LeaseEngine.Snapshot"/>); null when stopped.</summary>
    internal LeaseEngine? Engine => _engine;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var exportOptions = export.Value;
        // Bind first: an address in use is refused before anything is created or logged (the export directory, the
        // handle key, "Exporting ..."). Clients that connect meanwhile wait in the backlog until accepting starts.
        Socket? listener = RpcServer.Listen(server.Value.ParseListen());
        try
        {
            ExportDirectory.Prepare(exportOptions, server.Value.CreateExport);
            // Delegations get as long as a client's lease to come back: a client that renews in time can always answer.
            var engine = engineOptions.Value;
            engine.DelegationBreakTime = nfsOptions.Value.LeaseTime;
            _engine = new LeaseEngine(engine, time, OwnerMatchers.SameGroup, logger: loggers.CreateLogger<LeaseEngine>());
            try
            {
                _tree = new LocalDirectoryTree(exportOptions, new EngineChangeGate(_engine), loggers.CreateLogger<LocalDirectoryTree>());
            }
            catch (InvalidDataException ex)
            {
                throw new StartupException(ex.Message.TrimEnd('.'), StartupFault.Environment, ex); // the handle key: names the file and what to do
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
            {
                throw new StartupException($"cannot export {exportOptions.FullPath}: {ExportDirectory.Reason(ex)}", StartupFault.Environment, ex);
            }
            _nfs = new Nfs4Server(_tree, _engine, exportOptions, nfsOptions.Value, time, loggers);
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
        Log.Serving(_logger, exportOptions.FullPath, _rpc.LocalEndPoint!, nfsOptions.Value.LeaseTime.TotalSeconds,
            exportOptions.ReadOnly ? "read-only" : "read-write", exportOptions.RootSquash ? "root squashed" : "root not squashed");
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
        _tree?.Dispose();
        if (_engine is not null)
            await _engine.DisposeAsync().ConfigureAwait(false);
        _rpc = null;
        _nfs = null;
        _tree = null;
        _engine = null;
    }
}

/// <summary>Host log events (ids 5xxx).</summary>
internal static partial class Log
{
    [LoggerMessage(5001, LogLevel.Information, "Serving {Path} over NFSv4.1 on {EndPoint} (lease time {LeaseSeconds} s, {Access}, {Squash})")]
    public static partial void Serving(ILogger logger, string path, EndPoint endPoint, double leaseSeconds, string access, string squash);

    [LoggerMessage(5002, LogLevel.Information, "Shutting down: closing connections and releasing state")]
    public static partial void Stopping(ILogger logger);

    [LoggerMessage(5003, LogLevel.Information, "Stopped")]
    public static partial void Stopped(ILogger logger);
}
