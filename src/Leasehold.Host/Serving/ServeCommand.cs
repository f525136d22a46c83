using System.CommandLine;
using Leasehold.Engine;
using Leasehold.Export;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Server;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Leasehold.Host.Serving;

/// <summary>
/// <c>leasehold serve [DIR] [--listen ADDR:PORT] [--lease-time SECONDS] ...</c>. Settings come, weakest first, from
/// the defaults, a JSON file (<c>--config</c>, or ./leasehold.json if present), environment variables
/// (<c>LEASEHOLD_Export__Path</c>, <c>LEASEHOLD_Nfs4__LeaseTime</c>, ...) and the command line.
/// </summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var directory = new Argument<string?>("directory") { Description = "The directory to export (default: ./export, created if missing).", Arity = ArgumentArity.ZeroOrOne };
        var listen = new Option<string?>("--listen") { Description = "Address and port to listen on (default 127.0.0.1:2049)." };
        var leaseTime = new Option<int?>("--lease-time") { Description = "NFSv4 lease time in seconds (default 90)." };
        var readOnly = new Option<bool>("--read-only") { Description = "Refuse every change." };
        var rootSquash = new Option<bool>("--root-squash") { Description = "Map root (uid 0) to the anonymous user." };
        var config = new Option<string?>("--config") { Description = "A JSON settings file." };
        var verbose = new Option<bool>("--verbose") { Description = "Log debug events too." };
        var command = new Command("serve", "Serve a directory over NFSv4.1.") { directory, listen, leaseTime, readOnly, rootSquash, config, verbose };
        command.SetAction(async (parse, ct) =>
        {
            var overrides = new Dictionary<string, string?>();
            if (parse.GetValue(directory) is { } dir)
                overrides["Export:Path"] = dir;
            if (parse.GetValue(listen) is { } address)
                overrides["Server:Listen"] = address;
            if (parse.GetValue(leaseTime) is { } seconds)
                overrides["Nfs4:LeaseTime"] = TimeSpan.FromSeconds(seconds).ToString();
            if (parse.GetValue(readOnly))
                overrides["Export:ReadOnly"] = "true";
            if (parse.GetValue(rootSquash))
                overrides["Export:RootSquash"] = "true";
            if (parse.GetValue(verbose))
                overrides["Logging:LogLevel:Default"] = "Debug";
            return await RunAsync(parse.GetValue(config), overrides, ct).ConfigureAwait(false);
        });
        return command;
    }

    private static async Task<int> RunAsync(string? configFile, Dictionary<string, string?> overrides, CancellationToken ct)
    {
        var builder = BuildHost(configFile, overrides);
        using var host = builder.Build();
        try
        {
            await host.RunAsync(ct).ConfigureAwait(false);
            return 0;
        }
        catch (OptionsValidationException ex)
        {
            await Console.Error.WriteLineAsync($"leasehold: invalid settings: {string.Join("; ", ex.Failures)}").ConfigureAwait(false);
            return 2;
        }
        catch (Exception ex) when (ex is System.Net.Sockets.SocketException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            await Console.Error.WriteLineAsync($"leasehold: cannot start: {ex.Message}").ConfigureAwait(false);
            return 1;
        }
    }

    /// <summary>The host, with every setting bound and validated at start. Integration tests build it too.</summary>
    public static HostApplicationBuilder BuildHost(string? configFile, IDictionary<string, string?> overrides)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Export:Path"] = "export",
            ["Logging:LogLevel:Default"] = "Information",
            ["Logging:LogLevel:Microsoft"] = "Warning",
        });
        if (configFile is not null)
            builder.Configuration.AddJsonFile(Path.GetFullPath(configFile), optional: false);
        else
            builder.Configuration.AddJsonFile(Path.GetFullPath("leasehold.json"), optional: true);
        builder.Configuration.AddEnvironmentVariables("LEASEHOLD_");
        builder.Configuration.AddInMemoryCollection(overrides);

        builder.Logging.AddConfiguration(builder.Configuration.GetSection("Logging"));
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
        });
        builder.Services.AddSingleton(TimeProvider.System);
        Bind<ServerSettings>(builder, "Server", o => o.ParseListen());
        Bind<ExportOptions>(builder, "Export", o => o.Validate());
        Bind<LeaseEngineOptions>(builder, "Engine", o => o.Validate());
        Bind<Nfs4Options>(builder, "Nfs4", o => o.Validate());
        Bind<RpcOptions>(builder, "Rpc", o => o.Validate());
        builder.Services.AddSingleton<NfsServerService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<NfsServerService>());
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(10));
        return builder;
    }

    private static void Bind<T>(HostApplicationBuilder builder, string section, Action<T> validate) where T : class
    {
        builder.Services.AddOptions<T>().Bind(builder.Configuration.GetSection(section)).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<T>>(new DelegatingValidator<T>(validate));
    }

    /// <summary>Runs an options class's own Validate() and turns its exception into a validation failure with the same words.</summary>
    private sealed class DelegatingValidator<T>(Action<T> validate) : IValidateOptions<T> where T : class
    {
        public ValidateOptionsResult Validate(string? name, T options)
        {
            try
            {
                validate(options);
                return ValidateOptionsResult.Success;
            }
            catch (ArgumentException ex)
            {
                return ValidateOptionsResult.Fail($"{typeof(T).Name}: {ex.Message}");
            }
        }
    }
}
