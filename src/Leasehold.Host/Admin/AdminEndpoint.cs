using System.Net;
using System.Reflection;
using Leasehold.Export;
using Leasehold.Host.Serving;
using Leasehold.Engine;
using Leasehold.Nfs4;
using Leasehold.Nfs4.Admin;
using Leasehold.Rpc.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace Leasehold.Host.Admin;

/// <summary>
/// The admin endpoint: a small ASP.NET Core app beside the NFS server, started after it and stopped before it. It serves
/// the <see cref="ServerAdmin"/> views and actions as JSON under /api, Prometheus metrics at /metrics (OpenTelemetry's
/// exporter over every "Leasehold.*" meter) and the status page at /. Where it listens and who may do what:
/// <see cref="AdminSettings"/>.
/// </summary>
internal sealed class AdminEndpoint(
    IOptions<AdminSettings> settings,
    IOptions<ExportOptions> export,
    NfsServerService nfs,
    ILoggerFactory loggers,
    TimeProvider time) : IHostedService, IAsyncDisposable
{
    /// <summary>The cookie the status page's "?token=" sets, so a browser's later requests carry the token.</summary>
    public const string TokenCookie = "leasehold_admin";

    /// <summary>sun_path's size on Linux, with its terminating NUL: a longer socket path cannot be bound.</summary>
    private const int MaxSocketPathBytes = 108;

    private readonly ILogger _logger = loggers.CreateLogger("Leasehold.Host.Admin");
    private WebApplication? _app;
    private StatusFeed? _feed;
    private MeterProvider? _meters;

    /// <summary>The server's version, as `leasehold --version` prints it.</summary>
    private static readonly string ServiceVersion =
        typeof(AdminEndpoint).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    /// <summary>The Unix socket's path while serving on one; null otherwise.</summary>
    public string? SocketPath { get; private set; }

    /// <summary>The TCP endpoint while serving on one (the real port when 0 was asked); null otherwise.</summary>
    public IPEndPoint? TcpEndPoint { get; private set; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var options = settings.Value;
        var tcp = options.ParseListen();
        if (!options.Socket && tcp is null)
            return;
        var server = nfs.Nfs ?? throw new InvalidOperationException("the NFS server is not running");
        string stateDirectory = export.Value.ResolvedStateDirectory;
        string token;
        try
        {
            token = AdminToken.LoadOrCreate(stateDirectory);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new Settings.StartupException($"cannot make the admin token in {stateDirectory}: {ex.Message.TrimEnd('.')}", Settings.StartupFault.Environment, ex);
        }
        var admin = new ServerAdmin(server);
        _feed = options.Metrics ? new StatusFeed(time) : null;

        // The empty builder: no settings files, no environment variables, no file watching. The slim and default builders
        // read appsettings.json from the working directory with reload on change, which watches that directory and all
        // below it (started from /, as a system service is, 15,634 inotify watches, and a wake-up for every change on
        // the machine). The server's own settings are read by its host; Kestrel is configured in code below.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = "Leasehold.Admin" });
        builder.WebHost.UseKestrelCore();
        builder.Services.AddRoutingCore();
        // The server's host owns the process: its signals (SIGTERM, Ctrl-C) and its stop. The app's default lifetime would
        // take SIGTERM for itself and leave the server to be killed without its clean stop.
        builder.Services.AddSingleton<IHostLifetime, EmbeddedLifetime>();
        builder.Services.AddSingleton(loggers); // the server's own log, filters and format
        // The meter provider is made here rather than through AddOpenTelemetry(): the hosting integration kept SIGTERM from
        // reaching the server's own stop (the process died with 143 instead of stopping cleanly).
        if (options.Metrics)
        {
            var meters = Sdk.CreateMeterProviderBuilder()
                .ConfigureResource(r => r.AddService("leasehold", serviceVersion: ServiceVersion)) // target_info{service_version=...}
                .AddMeter(EngineMetrics.MeterName, RpcMetrics.MeterName, Nfs4Metrics.MeterName);
            if (!options.OperationDurations)
                meters.AddView(Nfs4Metrics.OperationDurationName, MetricStreamConfiguration.Drop); // not enabled: no clock reads either
            _meters = meters.AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0) // each scrape reads the counts now
                .Build();
        }
        string? socket = options.Socket ? Path.Join(stateDirectory, AdminSettings.SocketFileName) : null;
        if (socket is not null && System.Text.Encoding.UTF8.GetByteCount(socket) >= MaxSocketPathBytes)
        {
            // sockaddr_un holds 108 bytes: a deep state directory cannot have the socket. The server still serves NFS.
            Log.AdminSocketPathTooLong(_logger, socket, MaxSocketPathBytes);
            socket = null;
            if (tcp is null)
                return;
        }
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = 64 * 1024;
            if (socket is not null)
            {
                File.Delete(socket); // left by a server that died: the state directory's lock says none runs
                k.ListenUnixSocket(socket);
            }
            if (tcp is not null)
                k.Listen(tcp);
        });
        var app = builder.Build();
        app.Use(ReportFailures);
        app.Use((context, next) => Authorize(context, next, token));
        AdminRoutes.Map(app, admin, _feed, export.Value.FullPath);
        if (_meters is not null)
            app.MapPrometheusScrapingEndpoint("/metrics", _meters, optionsName: null, configureBranchedPipeline: branch =>
                branch.Use((context, next) =>
                {
                    server.Metrics.FlushDurations(); // the operation durations kept since the last batch, so the scrape is current
                    return next(context);
                }));
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or Microsoft.AspNetCore.Connections.AddressInUseException)
        {
            await app.DisposeAsync().ConfigureAwait(false);
            // Kestrel says "Failed to bind to address http://...: address already in use": say it as the NFS listener does.
            bool inUse = ex is Microsoft.AspNetCore.Connections.AddressInUseException || ex.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException
                || ex.InnerException is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.AddressAlreadyInUse };
            throw new Settings.StartupException(inUse && tcp is not null
                ? $"Admin:Listen {tcp} is already in use (another program listens there; choose another port, or leave Admin:Listen out for the admin socket only)"
                : $"cannot start the admin endpoint ({(tcp is not null ? tcp.ToString() : socket)}): {ex.Message.TrimEnd('.')}", Settings.StartupFault.Environment, ex);
        }
        _app = app;
        if (socket is not null && OperatingSystem.IsLinux())
        {
            File.SetUnixFileMode(socket, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            SocketPath = socket;
        }
        if (tcp is not null)
        {
            var addresses = app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
                .Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()?.Addresses;
            // Kestrel lists the socket as http://unix:/path: the TCP one is the address with an IP host.
            var http = addresses?.Select(a => new Uri(a)).FirstOrDefault(u => u.Scheme == "http" && IPAddress.TryParse(u.Host.Trim('[', ']'), out _));
            TcpEndPoint = http is null ? tcp : new IPEndPoint(tcp.Address, http.Port);
        }
        string where = (socket, TcpEndPoint) switch
        {
            ({ } unix, { } ip) => $"{unix} and http://{ip}",
            ({ } unix, null) => $"{unix} (no TCP)",
            (null, { } ip) => $"http://{ip} (no socket)",
            _ => "nothing",
        };
        Log.AdminListening(_logger, where, Path.Join(stateDirectory, AdminToken.FileName));
    }

    /// <summary>
    /// A request the server failed on (a bug: nothing a caller sends should get here) is logged with its stack (5203)
    /// and answered 500 with one line that names the failure and points at the log, so the CLI can say more than "HTTP 500".
    /// </summary>
    private async Task ReportFailures(HttpContext context, RequestDelegate next)
    {
        try
        {
            await next(context).ConfigureAwait(false);
        }
        catch (Exception ex) when (!context.RequestAborted.IsCancellationRequested)
        {
            Log.AdminRequestFailed(_logger, ex, context.Request.Method, context.Request.Path.ToString());
            if (context.Response.HasStarted)
                throw;
            context.Response.Clear();
            context.Response.StatusCode = StatusCodes.Status500InternalServerError;
            await context.Response.WriteAsJsonAsync(new AdminError(
                $"the server failed on {context.Request.Method} {context.Request.Path} ({ex.GetType().Name}: {ex.Message.TrimEnd('.')}); its log (event 5203) has the details")).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Over the Unix socket, GET and HEAD need nothing (the socket is the server user's alone); every change, and every
    /// request over TCP, needs the token. A browser opening "/?token=TOKEN" gets it as a cookie and is sent to "/".
    /// </summary>
    private static Task Authorize(HttpContext context, RequestDelegate next, string token)
    {
        // Kestrel gives IP addresses only for TCP connections: none on both ends is the Unix socket.
        bool overSocket = context.Connection.LocalIpAddress is null && context.Connection.RemoteIpAddress is null;
        bool change = !HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method);
        if (!change && overSocket)
            return next(context);
        string? offered = context.Request.Headers.Authorization.ToString() is { } header && header.StartsWith("Bearer ", StringComparison.Ordinal)
            ? header["Bearer ".Length..].Trim()
            : context.Request.Cookies[TokenCookie];
        if (AdminToken.Matches(token, offered))
            return next(context);
        if (!change && context.Request.Path == "/" && AdminToken.Matches(token, context.Request.Query["token"].ToString()))
        {
            context.Response.Cookies.Append(TokenCookie, token, new CookieOptions { HttpOnly = true, SameSite = SameSiteMode.Strict, Path = "/" });
            context.Response.Redirect("/", permanent: false);
            return Task.CompletedTask;
        }
        if (string.IsNullOrEmpty(offered) && !change && context.Request.Path == "/")
            offered = context.Request.Query["token"].ToString(); // "/?token=WRONG" is a wrong token, not a missing one
        context.Response.StatusCode = StatusCodes.Status401Unauthorized;
        context.Response.Headers.WWWAuthenticate = "Bearer";
        return context.Response.WriteAsJsonAsync(new AdminError(
            !string.IsNullOrEmpty(offered) ? "the admin token sent is not this server's (the server's is admin.token in its state directory)"
            : change ? "a change needs the admin token (Authorization: Bearer, from admin.token in the state directory)"
            : "the admin endpoint over TCP needs the admin token (Authorization: Bearer, from admin.token in the state directory)"));
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_app is { } app)
            await app.StopAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is { } app)
        {
            _app = null;
            await app.DisposeAsync().ConfigureAwait(false);
        }
        _feed?.Dispose();
        _meters?.Dispose();
        if (SocketPath is { } socket)
            File.Delete(socket);
    }
}

/// <summary>The admin app's lifetime inside the server's host: no signal handlers, no waiting; the host starts and stops it.</summary>
internal sealed class EmbeddedLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>The body of every refusal: one line that says why.</summary>
public sealed record AdminError(string Error);

internal static partial class Log
{
    [LoggerMessage(5201, LogLevel.Information, "Admin endpoint on {Where}; changes need the token in {TokenFile}")]
    public static partial void AdminListening(ILogger logger, string where, string tokenFile);

    [LoggerMessage(5203, LogLevel.Error, "Admin request {Method} {Path} failed")]
    public static partial void AdminRequestFailed(ILogger logger, Exception exception, string method, string path);

    [LoggerMessage(5202, LogLevel.Warning, "No admin socket: {Path} is longer than a Unix socket path may be ({Max} bytes); move Export:StateDirectory higher, or set Admin:Listen for HTTP on loopback")]
    public static partial void AdminSocketPathTooLong(ILogger logger, string path, int max);
}
