using System.Collections;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.EnvironmentVariables;
using Microsoft.Extensions.Configuration.Json;

namespace Leasehold.Host.Settings;

/// <summary>Where a configuration layer came from, so a message can name the file, the variable or the option.</summary>
public enum SourceKind
{
    /// <summary>The built-in defaults.</summary>
    Defaults,

    /// <summary>A JSON settings file.</summary>
    File,

    /// <summary>LEASEHOLD_* environment variables.</summary>
    Environment,

    /// <summary>The command line.</summary>
    CommandLine,

    /// <summary>Values the host rewrote into canonical form; never named to the user.</summary>
    Normalized,
}

/// <summary>
/// The configuration layers in order, weakest first, each with its kind, so the host can say where a value came from:
/// "Nfs4:LeaseTime in /etc/leasehold.json", "LEASEHOLD_Nfs4__LeaseTime", "--lease-time".
/// </summary>
public sealed class SettingsSources
{
    private readonly List<(IConfigurationSource Source, SourceKind Kind)> _layers = [];
    private readonly Dictionary<string, string> _optionNames;
    private readonly IConfigurationManager _root;

    /// <param name="root">The configuration; its providers are in the order their sources were added.</param>
    /// <param name="optionNames">Configuration key → the command-line option that sets it ("Nfs4:LeaseTime" → "--lease-time").</param>
    public SettingsSources(IConfigurationManager root, IReadOnlyDictionary<string, string>? optionNames = null)
    {
        _root = root;
        _optionNames = optionNames is null
            ? new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
            : new Dictionary<string, string>(optionNames, StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>Records the kind of the source just added (call once after each Add… on the configuration).</summary>
    public void Added(IConfigurationBuilder builder, SourceKind kind) => _layers.Add((builder.Sources[^1], kind));

    /// <summary>The user-visible layers (all but <see cref="SourceKind.Normalized"/>), weakest first.</summary>
    public IEnumerable<(IConfigurationProvider Provider, SourceKind Kind, IConfigurationSource Source)> Layers
    {
        get
        {
            // The root has one provider per source, in the sources' order; the builder may hold sources of its own.
            var providers = ((IConfigurationRoot)_root).Providers.ToList();
            var all = _root.Sources;
            foreach (var (source, kind) in _layers)
            {
                int index = all.IndexOf(source);
                if (kind != SourceKind.Normalized && index >= 0 && index < providers.Count)
                    yield return (providers[index], kind, source);
            }
        }
    }

    /// <summary>The layer that gives <paramref name="key"/> its value, and the raw value; null when none does.</summary>
    public (SourceKind Kind, IConfigurationSource Source, string? Raw)? Find(string key)
    {
        foreach (var layer in Layers.Reverse())
        {
            if (layer.Provider.TryGet(key, out string? raw))
                return (layer.Kind, layer.Source, raw);
        }
        return null;
    }

    /// <summary>How to name <paramref name="key"/> as set by a layer of <paramref name="kind"/>: the option, the variable, or key and file.</summary>
    public string Name(string key, SourceKind kind, IConfigurationSource? source) => kind switch
    {
        SourceKind.CommandLine when _optionNames.TryGetValue(key, out string? option) => option,
        SourceKind.CommandLine => $"{key} (command line)",
        SourceKind.Environment => EnvironmentName(key, source as EnvironmentVariablesConfigurationSource),
        SourceKind.File when source is JsonConfigurationSource json => $"{key} in {FilePath(json)}",
        SourceKind.Defaults => $"{key} (default)",
        _ => key,
    };

    /// <summary>How to name <paramref name="key"/> as it is set now (by its strongest layer).</summary>
    public string Name(string key) => Find(key) is { } found ? Name(key, found.Kind, found.Source) : key;

    /// <summary>"--lease-time \"1\"", "Nfs4:LeaseTime = \"1\" in f.json": the setting as its strongest layer sets it, with the raw value.</summary>
    public string NameWithValue(string key) =>
        Find(key) is { } found ? NameWithValue(key, found.Kind, found.Source, found.Raw) : key;

    /// <summary>The setting <paramref name="key"/> as a layer of <paramref name="kind"/> sets it to <paramref name="raw"/>.</summary>
    public string NameWithValue(string key, SourceKind kind, IConfigurationSource? source, string? raw) => kind switch
    {
        SourceKind.CommandLine when _optionNames.ContainsKey(key) => $"{Name(key, kind, source)} {Quote(raw)}",
        SourceKind.Environment => $"{Name(key, kind, source)}={Quote(raw)}",
        SourceKind.File when source is JsonConfigurationSource json => $"{key} = {Quote(raw)} in {FilePath(json)}",
        _ => $"{Name(key, kind, source)} = {Quote(raw)}",
    };

    public static string Quote(string? raw) => raw is null ? "null" : $"\"{raw}\"";

    public static string FilePath(JsonConfigurationSource json) =>
        json.FileProvider is Microsoft.Extensions.FileProviders.PhysicalFileProvider physical
            ? Path.Join(physical.Root, json.Path)
            : json.Path ?? "(settings file)";

    private static string EnvironmentName(string key, EnvironmentVariablesConfigurationSource? source)
    {
        string name = (source?.Prefix ?? "") + key.Replace(":", "__", StringComparison.Ordinal);
        // Name the variable as the user spelled it: configuration keys are case-insensitive, variables are not.
        foreach (DictionaryEntry variable in System.Environment.GetEnvironmentVariables())
        {
            if (variable.Key is string actual && string.Equals(actual, name, StringComparison.OrdinalIgnoreCase))
                return actual;
        }
        return name;
    }
}
