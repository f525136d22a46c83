using Leasehold.Export;
using Leasehold.Host.Serving;
using Leasehold.Host.Settings;
using Microsoft.Extensions.Configuration;

namespace Leasehold.Host.Admin;

/// <summary>
/// Which server's state directory (its admin.sock and admin.token) an admin verb talks to, first match wins:
/// <list type="number">
/// <item><c>--state-dir DIR</c>;</item>
/// <item>the environment's <c>LEASEHOLD_Export__StateDirectory</c>, as <c>serve</c> reads it;</item>
/// <item>the settings file <c>--config FILE</c>, else ./leasehold.json if present (as <c>serve</c> reads them): its
/// Export:StateDirectory, or the default beside its Export:Path;</item>
/// <item>./.leasehold-state if it exists (a server started here with the defaults);</item>
/// <item>/etc/leasehold/leasehold.json if present: the installed service's settings (deploy/leasehold.json);</item>
/// <item>./.leasehold-state.</item>
/// </list>
/// </summary>
internal sealed record AdminTarget(string StateDirectory, string Source)
{
    /// <summary>Where deploy/leasehold.service has the service read its settings.</summary>
    public const string ServiceConfigFile = "/etc/leasehold/leasehold.json";

    /// <summary>Throws <see cref="AdminClientException"/> (a usage error) when <paramref name="configFile"/> cannot be read.</summary>
    public static AdminTarget Resolve(string? stateDirectory, string? configFile)
    {
        if (!string.IsNullOrEmpty(stateDirectory))
            return new(Path.GetFullPath(stateDirectory), "--state-dir");
        if (Environment.GetEnvironmentVariable(ServeCommand.EnvironmentPrefix + "Export__StateDirectory") is { Length: > 0 } fromEnvironment)
            return new(Path.GetFullPath(fromEnvironment), $"{ServeCommand.EnvironmentPrefix}Export__StateDirectory");
        if (configFile is not null)
            return FromConfig(configFile, "--config");
        if (File.Exists(ServeCommand.DefaultConfigFile))
            return FromConfig(ServeCommand.DefaultConfigFile, $"./{ServeCommand.DefaultConfigFile}");
        string local = Path.GetFullPath(ExportOptions.DefaultStateDirectoryName);
        if (!Directory.Exists(local) && File.Exists(ServiceConfigFile))
            return FromConfig(ServiceConfigFile, ServiceConfigFile);
        return new(local, "the default");
    }

    private static AdminTarget FromConfig(string file, string source)
    {
        string full = Path.GetFullPath(file);
        var config = new ConfigurationManager(); // loads each source as it is added, so the file's faults surface here
        try
        {
            ServeCommand.AddSettingsFile(config, full); // serve's own reader, and its messages
        }
        catch (StartupException ex)
        {
            throw new AdminClientException(ex.Message, usage: true);
        }
        var export = new ExportOptions
        {
            Path = config["Export:Path"] is { Length: > 0 } path ? path : SettingsSchema.DefaultExportPath,
            StateDirectory = config["Export:StateDirectory"],
        };
        try
        {
            return new(export.ResolvedStateDirectory, $"the settings file {full}");
        }
        catch (InvalidOperationException ex)
        {
            throw new AdminClientException($"{full}: {ex.Message.TrimEnd('.')}", usage: true);
        }
    }
}
