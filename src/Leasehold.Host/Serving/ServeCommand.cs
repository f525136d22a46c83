using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Leasehold.Engine;
using Leasehold.Export;
using Leasehold.Host.Settings;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Server;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Leasehold.Host.Serving;

/// <summary>
/// <c>leasehold serve [DIR] [--listen ADDR[:PORT]] [--lease-time DURATION] [--create] [--cluster etcd=URL[,URL...] --node NAME] ...</c>. Settings come, weakest
/// first, from the defaults, a JSON file (<c>--config</c>, or ./leasehold.json if present), environment variables
/// (<c>LEASEHOLD_Export__Path</c>, <c>LEASEHOLD_Nfs4__LeaseTime</c>, ...) and the command line. Every key and value is
/// checked before anything starts; a refused start prints one line on stderr and exits 2 (settings) or 1 (the
/// machine: a missing directory, an address in use).
/// </summary>
internal static class ServeCommand
{
    /// <summary>The settings file read when --config is not given, if it exists.</summary>
    public const string DefaultConfigFile = "leasehold.json";

    /// <summary>How long a stop may take to close connections and release state before the host gives up on it.</summary>
    public static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Prefix of the environment variables read as settings.</summary>
    public const string EnvironmentPrefix = "LEASEHOLD_";

    /// <summary>What a --cluster value starts with: the kind of cluster, the only one there is.</summary>
    private const string EtcdClusterPrefix = "etcd=";

    public static Command Create()
    {
        var directory = new Argument<string?>("directory") { Description = $"The directory to export; it must exist (default: ./{SettingsSchema.DefaultExportPath}, created if missing).", Arity = ArgumentArity.ZeroOrOne };
        var listen = new Option<string?>("--listen") { Description = "IP address and port to listen on (default 127.0.0.1:2049; an address alone means port 2049).", HelpName = "address[:port]" };
        var leaseTime = new Option<string?>("--lease-time") { Description = "NFSv4 lease time (default 90s): seconds, or 90s, 1m30s, 00:01:30.", HelpName = "duration" };
        var create = new Option<bool>("--create") { Description = "Create the export directory (and its parents) if it does not exist." };
        var readOnly = new Option<bool>("--read-only") { Description = "Refuse every change." };
        var rootSquash = new Option<bool>("--root-squash") { Description = "Map root (uid 0) to the anonymous user." };
        var asyncDirectoryChanges = new Option<bool>("--async-directory-changes") { Description = "Answer creates, removes and renames before they reach the disk (exports(5) async): faster, but a crash may lose acknowledged ones." };
        var config = new Option<string?>("--config") { Description = $"A JSON settings file (default: ./{DefaultConfigFile} if present).", HelpName = "file" };
        var verbose = new Option<bool>("--verbose") { Description = "Log debug events too." };
        var cluster = new Option<string?>("--cluster") { Description = "Serve as one node of a cluster over one shared directory, with etcd at these endpoints as the grant authority.", HelpName = "etcd=URL[,URL...]" };
        var node = new Option<string?>("--node") { Description = "This node's name in the cluster (A-Z, a-z, 0-9, '.', '_', '-'; at most 63); required with --cluster.", HelpName = "name" };
        var command = new Command("serve", "Serve a directory over NFSv4.1 and 4.2.") { directory, listen, leaseTime, create, readOnly, rootSquash, asyncDirectoryChanges, cluster, node, config, verbose };
        // etcd is the only kind of cluster; the prefix leaves room for others without changing what --cluster means.
        cluster.Validators.Add(result =>
        {
            if (result.Tokens.Count == 0)
                return;
            string value = result.Tokens[0].Value;
            if (!value.StartsWith(EtcdClusterPrefix, StringComparison.Ordinal))
                result.AddError($"--cluster \"{value}\" is not etcd=URL[,URL...] (etcd is the only kind of cluster)");
            else if (string.IsNullOrWhiteSpace(value[EtcdClusterPrefix.Length..]))
                result.AddError($"--cluster \"{value}\" names no etcd endpoint; write etcd=URL[,URL...] such as etcd=http://10.0.0.1:2379");
        });
        // A mistyped option ("--lisen") would otherwise be taken for the directory, and its value reported instead.
        // A directory whose name starts with "--" is still reachable as ./--name.
        directory.Validators.Add(result =>
        {
            if (result.Tokens.Count > 0 && result.Tokens[0].Value is ['-', '-', ..] token)
            {
                string? near = SettingsSchema.Nearest(token, command.Options.Select(o => o.Name));
                result.AddError($"unknown option {token}{(near is null ? "" : $" (did you mean {near}?)")}");
            }
        });
        var optionNames = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
        {
            ["Export:Path"] = "the directory argument",
            ["Server:Listen"] = "--listen",
            ["Nfs4:LeaseTime"] = "--lease-time",
            ["Cluster:Etcd"] = "--cluster",
            ["Cluster:Node"] = "--node",
        };
        command.SetAction(async (parse, ct) =>
        {
            var overrides = new Dictionary<string, string?>();
            if (parse.GetValue(directory) is { } dir)
                overrides["Export:Path"] = dir;
            if (parse.GetValue(listen) is { } address)
                overrides["Server:Listen"] = address;
            if (parse.GetValue(leaseTime) is { } duration)
                overrides["Nfs4:LeaseTime"] = duration;
            if (parse.GetValue(readOnly))
                overrides["Export:ReadOnly"] = "true";
            if (parse.GetValue(rootSquash))
                overrides["Export:RootSquash"] = "true";
            if (parse.GetValue(asyncDirectoryChanges))
                overrides["Export:SyncDirectoryChanges"] = "false";
            if (parse.GetValue(cluster) is { } etcd)
                overrides["Cluster:Etcd"] = etcd[EtcdClusterPrefix.Length..];
            if (parse.GetValue(node) is { } name)
                overrides["Cluster:Node"] = name;
            if (parse.GetValue(verbose))
                overrides["Logging:LogLevel:Default"] = "Debug";
            return await RunAsync(parse.GetValue(config), overrides, parse.GetValue(create), optionNames, parse.GetValue(verbose), ct).ConfigureAwait(false);
        });
        return command;
    }

    private static async Task<int> RunAsync(string? configFile, Dictionary<string, string?> overrides, bool create,
        IReadOnlyDictionary<string, string> optionNames, bool verbose, CancellationToken ct)
    {
        bool started = false;
        try
        {
            var builder = BuildHost(configFile, overrides, create, optionNames);
            using var host = builder.Build();
            ValidateAll(host.Services);
            using var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStarted.Register(() => started = true);
            await host.RunAsync(ct).ConfigureAwait(false);
            return 0;
        }
        catch (StartupException ex)
        {
            return Refused(ex.Message, ex.ExitCode, verbose ? ex : null);
        }
        catch (OptionsValidationException ex)
        {
            return Refused(ex.Failures.FirstOrDefault() ?? ex.Message, 2, verbose ? ex : null);
        }
        catch (RpcListenException ex)
        {
            return Refused(ListenProblem(ex.EndPoint, ex.SocketError, ex.Message), 1, verbose ? ex : null);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // A fault of ours, not of the settings: still one line, with the whole story under --verbose.
            string first = ex.Message.Split('\n')[0].TrimEnd('.', '\r');
            string what = started ? "stopped on a fault" : "cannot start";
            return Refused($"{what}: {ex.GetType().Name}: {first}{(verbose ? "" : " (--verbose shows where)")}", 1, verbose ? ex : null);
        }
    }

    /// <summary>Why listening on <paramref name="endPoint"/> failed, in one line that names it.</summary>
    internal static string ListenProblem(IPEndPoint endPoint, SocketError error, string message) => error switch
    {
        SocketError.AddressAlreadyInUse => $"{endPoint} is already in use (another server listens there; stop it or choose another --listen)",
        SocketError.AddressNotAvailable => $"cannot listen on {endPoint}: that address is not one of this machine's",
        SocketError.AccessDenied => $"cannot listen on {endPoint}: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)",
        _ => message.StartsWith("Cannot listen on ", StringComparison.Ordinal) ? "c" + message[1..].TrimEnd('.') : $"cannot listen on {endPoint}: {message.TrimEnd('.')}",
    };

    private static int Refused(string line, int exitCode, Exception? detail)
    {
        Console.Error.WriteLine($"leasehold: {line}");
        if (detail is not null)
            Console.Error.WriteLine(detail);
        return exitCode;
    }

    /// <summary>Binds and validates every section now, so a bad value is one line before the host starts logging.</summary>
    private static void ValidateAll(IServiceProvider services)
    {
        _ = services.GetRequiredService<IOptions<ServerSettings>>().Value;
        _ = services.GetRequiredService<IOptions<ExportOptions>>().Value;
        _ = services.GetRequiredService<IOptions<LeaseEngineOptions>>().Value;
        _ = services.GetRequiredService<IOptions<Nfs4Options>>().Value;
        _ = services.GetRequiredService<IOptions<RpcOptions>>().Value;
        _ = services.GetRequiredService<IOptions<ClusterSettings>>().Value;
        _ = services.GetRequiredService<IOptions<Admin.AdminSettings>>().Value;
    }

    /// <summary>
    /// The host, with every setting checked and bound and validated at start. Throws <see cref="StartupException"/>
    /// for an unreadable settings file, an unknown key or a value of the wrong type. Integration tests build it too.
    /// </summary>
    /// <param name="configFile">The settings file, or null for ./leasehold.json if present.</param>
    /// <param name="overrides">Settings from the command line, by configuration key ("Nfs4:LeaseTime").</param>
    /// <param name="createExport">Create a missing export directory even when it is named (serve --create).</param>
    /// <param name="optionNames">Which option set each override, for messages.</param>
    public static HostApplicationBuilder BuildHost(string? configFile, IDictionary<string, string?> overrides,
        bool createExport = false, IReadOnlyDictionary<string, string>? optionNames = null)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        var configuration = builder.Configuration;
        var sources = new SettingsSources(configuration, optionNames);
        configuration.AddInMemoryCollection(new Dictionary<string, string?>(SettingsSchema.HostDefaults)
        {
            ["Logging:LogLevel:Default"] = "Information",
            ["Logging:LogLevel:Microsoft"] = "Warning",
        });
        sources.Added(configuration, SourceKind.Defaults);
        AddSettingsFile(configuration, configFile);
        sources.Added(configuration, SourceKind.File);
        configuration.AddEnvironmentVariables(EnvironmentPrefix);
        sources.Added(configuration, SourceKind.Environment);
        configuration.AddInMemoryCollection(overrides);
        sources.Added(configuration, SourceKind.CommandLine);
        configuration.AddInMemoryCollection(SettingsCheck.Run(sources));
        sources.Added(configuration, SourceKind.Normalized);

        builder.Logging.AddConfiguration(configuration.GetSection(SettingsSchema.LoggingSection));
        // The generic host logs a failed start as an error with the stack trace; the command prints one line instead.
        // Nothing else is lost: this host has no BackgroundService, whose faults are this category's other errors.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.Critical);
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
        });
        // Under systemd (Type=notify, deploy/leasehold.service): READY=1 once every hosted service has started (the NFS
        // listener and the admin endpoint), STOPPING=1 at stop, and log lines in the journal's format. Elsewhere: nothing.
        builder.Services.AddSystemd();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton(sources);
        Bind<ServerSettings>(builder, sources, "Server", o => o.ParseListen());
        bool defaultExport = sources.Find("Export:Path") is { Kind: SourceKind.Defaults };
        builder.Services.PostConfigure<ServerSettings>(o => o.CreateExport = createExport || defaultExport);
        Bind<ExportOptions>(builder, sources, "Export", o => o.Validate());
        Bind<LeaseEngineOptions>(builder, sources, "Engine", o => o.Validate());
        Bind<Nfs4Options>(builder, sources, "Nfs4", o => o.Validate());
        Bind<RpcOptions>(builder, sources, "Rpc", o => o.Validate());
        Bind<ClusterSettings>(builder, sources, "Cluster", o => o.Validate());
        Bind<Admin.AdminSettings>(builder, sources, "Admin", o => o.Validate());
        builder.Services.AddSingleton<NfsServerService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<NfsServerService>());
        // After the NFS server (it serves that server's state), so it starts after it and stops before it.
        builder.Services.AddSingleton<Admin.AdminEndpoint>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<Admin.AdminEndpoint>());
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = ShutdownTimeout);
        return builder;
    }

    /// <summary>
    /// Adds the settings file (<paramref name="configFile"/>, or ./leasehold.json if present) to
    /// <paramref name="configuration"/>; a file that is missing (when named), a directory, unreadable or not JSON throws
    /// a one-line <see cref="StartupException"/> (a settings fault). The admin verbs read the server's file through it too.
    /// </summary>
    internal static void AddSettingsFile(IConfigurationBuilder configuration, string? configFile)
    {
        bool optional = configFile is null;
        string path = Path.GetFullPath(configFile ?? DefaultConfigFile);
        if (Directory.Exists(path))
            throw Refuse($"the settings file {path} is a directory");
        if (!optional && !File.Exists(path))
            throw Refuse($"the settings file {path} does not exist");
        try
        {
            configuration.AddJsonFile(path, optional);
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException or FormatException or JsonException)
        {
            if (Inner<JsonException>(ex) is { } json)
            {
                string problem = json.Message;
                int at = problem.IndexOf(" LineNumber:", StringComparison.Ordinal);
                if (at >= 0)
                    problem = problem[..at];
                string where = json.LineNumber is { } line ? $", line {line + 1}" : "";
                throw Refuse($"the settings file {path}{where} is not valid JSON: {problem.TrimEnd('.', ' ')}", ex);
            }
            if (Inner<UnauthorizedAccessException>(ex) is not null)
                throw Refuse($"cannot read the settings file {path}: permission denied", ex);
            if (Inner<FormatException>(ex) is { } format)
                throw Refuse($"the settings file {path} is not a settings file: {format.Message.TrimEnd('.')}", ex);
            throw Refuse($"cannot read the settings file {path}: {Innermost(ex).Message.TrimEnd('.')}", ex);
        }
    }

    private static T? Inner<T>(Exception? ex) where T : Exception
    {
        for (; ex is not null; ex = ex.InnerException)
        {
            if (ex is T found)
                return found;
        }
        return null;
    }

    private static Exception Innermost(Exception ex) => ex.InnerException is null ? ex : Innermost(ex.InnerException);

    private static StartupException Refuse(string message, Exception? inner = null) => new(message, StartupFault.Settings, inner);

    private static void Bind<T>(HostApplicationBuilder builder, SettingsSources sources, string section, Action<T> validate) where T : class
    {
        builder.Services.AddOptions<T>().Bind(builder.Configuration.GetSection(section)).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<T>>(new SectionValidator<T>(section, validate, sources));
    }
}
