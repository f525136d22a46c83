using System.Net;
using System.Text;
using Leasehold.Host.Serving;
using Leasehold.Nfs4.Client;
using Leasehold.Nfs4.Client.Rpc;
using Leasehold.Rpc.Messages;
using Leasehold.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Leasehold.IntegrationTests;

/// <summary>
/// The real server (the host <c>leasehold serve</c> builds) on 127.0.0.1, port 0, exporting a fresh directory under
/// /tmp with its state directory beside it, both removed afterwards. One server per test class (IClassFixture), so
/// classes run in parallel without seeing each other's files or clients. Tests in a class share the server and the
/// root <see cref="Session"/>, and work in names of their own (<see cref="NewName"/>) so they may run in any order.
/// Subclasses change the settings (<see cref="Configure"/>) or the clock (<see cref="Time"/>).
/// Delegations are guarded against local processes by kernel leases where the machine can (root, leases on); where it
/// cannot, a fixture that does not choose <c>Nfs4:Delegations</c> runs with ExclusiveExport, so delegation tests run
/// everywhere. Tests must not touch the export's files on disk while a client holds a delegation on them: the test
/// runs in the server's process, whose own open of a delegated file waits in the kernel for the recall.
/// </summary>
public class ServerFixture : IAsyncLifetime
{
    /// <summary>The lease the default server runs with: short enough to notice, long enough never to run out mid-test.</summary>
    public static readonly TimeSpan DefaultLeaseTime = TimeSpan.FromSeconds(20);

    private IHost? _host;
    private Nfs4Session? _session;

    public ServerFixture()
    {
        Root = Path.Join(Path.GetTempPath(), $"leasehold-it-{Guid.NewGuid():N}");
        ExportPath = Path.Join(Root, "export");
        StatePath = Path.Join(Root, "state");
    }

    /// <summary>The temporary directory holding the export and the state directory.</summary>
    public string Root { get; }

    /// <summary>The exported directory on disk (PUTROOTFH is this directory).</summary>
    public string ExportPath { get; }

    /// <summary>The state directory (the handle key), outside the export.</summary>
    public string StatePath { get; }

    /// <summary>Where the running server listens; changes at every <see cref="RestartAsync"/>.</summary>
    public IPEndPoint EndPoint { get; private set; } = new(IPAddress.Loopback, 0);

    public virtual TimeSpan LeaseTime => DefaultLeaseTime;

    /// <summary>The server's clock; null means the system clock.</summary>
    public virtual TimeProvider? Time => null;

    /// <summary>The running server's lease engine, to check what it holds (<see cref="Leasehold.Engine.LeaseEngine.Snapshot"/>).</summary>
    public Leasehold.Engine.LeaseEngine Engine =>
        _host?.Services.GetRequiredService<NfsServerService>().Engine ?? throw new InvalidOperationException("The server is not running.");

    /// <summary>
    /// A root (AUTH_SYS uid 0) session opened with the server, for tests that need no client of their own. It binds no
    /// back channel, so it is never granted a delegation: a file it writes and closes is not left under a write
    /// delegation that would recall (and delay) the next client to open it.
    /// </summary>
    public Nfs4Session Session => _session ?? throw new InvalidOperationException("The fixture is not initialised.");

    /// <summary>Extra settings (configuration keys such as "Export:ReadOnly") on top of the export, state, listen and lease.</summary>
    protected virtual void Configure(IDictionary<string, string?> settings)
    {
    }

    /// <summary>Extra services for the host (a log capture, say), added after the server's own.</summary>
    protected virtual void ConfigureServices(IServiceCollection services)
    {
    }

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(ExportPath);
        Directory.CreateDirectory(StatePath);
        await StartAsync();
        _session = await ConnectRootSessionAsync();
    }

    /// <summary>Stops the server and starts a new one on the same export and state directories (a restart).</summary>
    public async Task RestartAsync()
    {
        if (_session is not null)
        {
            await _session.DisposeAsync();
            _session = null;
        }
        await StopAsync();
        await StartAsync();
        _session = await ConnectRootSessionAsync();
    }

    private Task<Nfs4Session> ConnectRootSessionAsync() => ConnectAsync(options: new Nfs4SessionOptions { BackChannel = false });

    /// <summary>A new session of a new client (a fresh random co_ownerid unless the options say otherwise).</summary>
    public Task<Nfs4Session> ConnectAsync(RpcCredentials? credentials = null, Nfs4SessionOptions? options = null) =>
        Nfs4Session.ConnectAsync(EndPoint, credentials ?? RpcAuth.Root, options).WaitAsync(Waits.Timeout);

    /// <summary>A raw connection for hand-built (and malformed) RPC records.</summary>
    public Task<RpcTestClient> ConnectRawAsync() => RpcTestClient.ConnectAsync(EndPoint);

    /// <summary>A name no other test uses.</summary>
    public static string NewName(string prefix) => $"{prefix}-{Guid.NewGuid():N}";

    /// <summary>The root filehandle (the exported directory).</summary>
    public async Task<FileHandle> RootAsync() => (await Session.LookupPathAsync("").Bounded()).ValueOrThrow();

    public static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    private async Task StartAsync()
    {
        var settings = new Dictionary<string, string?>
        {
            ["Export:Path"] = ExportPath,
            ["Export:StateDirectory"] = StatePath,
            ["Server:Listen"] = "127.0.0.1:0",
            ["Nfs4:LeaseTime"] = LeaseTime.ToString(),
            // The server's own log would drown the test output; warnings and errors still show.
            ["Logging:LogLevel:Default"] = "Warning",
        };
        Configure(settings);
        bool policyChosen = settings.ContainsKey("Nfs4:Delegations");
        await StartHostAsync(settings);
        if (!policyChosen && LocalAccess == Leasehold.Export.LocalAccess.LocalAccessMechanism.None)
        {
            // This machine cannot guard delegations against local processes (not root, leases off, no fanotify), so
            // the default policy would grant none. Fixtures that are not about local access exist to test
            // delegations: run them on an export nothing else touches, as an operator would say with ExclusiveExport.
            await StopAsync();
            settings["Nfs4:Delegations"] = "ExclusiveExport";
            await StartHostAsync(settings);
        }
    }

    /// <summary>How the running server guards delegations against local processes (None: it grants them unguarded, or not at all).</summary>
    public Leasehold.Export.LocalAccess.LocalAccessMechanism LocalAccess =>
        _host?.Services.GetRequiredService<NfsServerService>().LocalAccess ?? throw new InvalidOperationException("The server is not running.");

    /// <summary>The running server's host service (its NFS server, its client records).</summary>
    internal NfsServerService Service =>
        _host?.Services.GetRequiredService<NfsServerService>() ?? throw new InvalidOperationException("The server is not running.");

    /// <summary>The running server's admin endpoint (its socket, its TCP address when asked for one).</summary>
    internal Leasehold.Host.Admin.AdminEndpoint Admin =>
        _host?.Services.GetRequiredService<Leasehold.Host.Admin.AdminEndpoint>() ?? throw new InvalidOperationException("The server is not running.");

    /// <summary>Kernel leases the running server holds for delegations.</summary>
    public int GuardCount =>
        _host?.Services.GetRequiredService<NfsServerService>().GuardCount ?? throw new InvalidOperationException("The server is not running.");

    private async Task StartHostAsync(Dictionary<string, string?> settings)
    {
        var builder = ServeCommand.BuildHost(configFile: null, settings);
        if (Time is { } time)
            builder.Services.AddSingleton(time); // the last registration wins: the server runs on the test's clock
        ConfigureServices(builder.Services);
        var host = builder.Build();
        try
        {
            await host.StartAsync().WaitAsync(Waits.Timeout);
        }
        catch
        {
            host.Dispose();
            throw;
        }
        _host = host;
        EndPoint = host.Services.GetRequiredService<NfsServerService>().EndPoint
            ?? throw new InvalidOperationException("The server started without a listening socket.");
    }

    private async Task StopAsync()
    {
        if (_host is null)
            return;
        var host = _host;
        _host = null;
        try
        {
            await host.StopAsync().WaitAsync(Waits.Timeout);
        }
        finally
        {
            host.Dispose();
        }
    }

    public async Task DisposeAsync()
    {
        try
        {
            if (_session is not null)
                await _session.DisposeAsync();
            await StopAsync();
        }
        finally
        {
            if (Directory.Exists(Root))
                Directory.Delete(Root, recursive: true);
        }
    }
}
