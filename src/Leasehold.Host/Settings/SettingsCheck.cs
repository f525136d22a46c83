using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Leasehold.Host.Settings;

/// <summary>
/// Reads every layer of the configuration before anything is bound: a key our sections do not have is refused with
/// the nearest known one, and every value must be of its setting's type (durations in <see cref="Duration"/>'s forms).
/// Every layer is checked, not only the strongest, since a bad file is bad even where the command line overrides it.
/// The result is the strongest value of each typed setting in the form the binder reads ("90" → "00:01:30").
/// </summary>
public static class SettingsCheck
{
    /// <summary>Checks all layers; throws <see cref="StartupException"/> at the first fault. Returns canonical values.</summary>
    public static Dictionary<string, string?> Run(SettingsSources sources)
    {
        foreach (var (provider, kind, source) in sources.Layers)
        {
            if (kind == SourceKind.Defaults)
                continue;
            foreach (string top in ChildKeys(provider, null))
                CheckTop(sources, provider, kind, source, top);
        }

        var canonical = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var section in SettingsSchema.Sections)
        {
            foreach (var key in section.Keys)
            {
                string path = $"{section.Name}:{key.Name}";
                if (sources.Find(path) is { } found && SettingsSchema.Convert(key.PropertyType, found.Raw, out string? value) is null)
                    canonical[path] = value;
            }
        }
        return canonical;
    }

    private static void CheckTop(SettingsSources sources, IConfigurationProvider provider, SourceKind kind, IConfigurationSource source, string top)
    {
        bool hasChildren = ChildKeys(provider, top).Count > 0;
        if (string.Equals(top, SettingsSchema.LoggingSection, StringComparison.OrdinalIgnoreCase))
        {
            CheckLogging(sources, provider, kind, source, top);
            return;
        }
        var section = SettingsSchema.Find(top);
        if (section is null)
        {
            // LEASEHOLD_TEST_NFS and the like are variables of their own, not settings; LEASEHOLD_Exprot__Path is a typo.
            if (kind == SourceKind.Environment && !hasChildren)
                return;
            if (top.StartsWith('$'))
                return; // "$schema" and other JSON metadata
            string? near = SettingsSchema.Nearest(top, SettingsSchema.Sections.Select(s => s.Name).Append(SettingsSchema.LoggingSection));
            throw Refuse($"unknown section {sources.Name(top, kind, source)} ({(near is null ? "known sections: " + KnownSections() : $"did you mean {near}?")})");
        }
        if (!hasChildren)
        {
            provider.TryGet(top, out string? raw);
            if (!string.IsNullOrEmpty(raw))
                throw Refuse($"{sources.Name(top, kind, source)} must be a section of settings such as {section.Name}:{section.Keys[0].Name}, not a value");
            return;
        }
        foreach (string name in ChildKeys(provider, top))
        {
            string path = $"{top}:{name}";
            string where = sources.Name($"{section.Name}:{name}", kind, source);
            if (section.Refused.TryGetValue(name, out string? reason))
                throw Refuse($"{where} {reason}");
            var key = section.Find(name);
            if (key is null)
            {
                string? near = SettingsSchema.Nearest(name, section.Keys.Select(k => k.Name));
                throw Refuse(near is null
                    ? $"unknown setting {where} (known in {section.Name}: {string.Join(", ", section.Keys.Select(k => k.Name))})"
                    : $"unknown setting {where} (did you mean {section.Name}:{near}?)");
            }
            if (ChildKeys(provider, path).Count > 0)
                throw Refuse($"{where} takes a single value, not a section or a list");
            provider.TryGet(path, out string? raw);
            if (SettingsSchema.Convert(key.PropertyType, raw, out _) is { } problem)
                throw Refuse($"{sources.NameWithValue($"{section.Name}:{name}", kind, source, raw)} {problem}");
        }
    }

    /// <summary>
    /// The logging section: LogLevel's values must be levels; Console (the console provider's own settings) belongs
    /// to Microsoft.Extensions.Logging and is left to it; anything else there is a typo that would be ignored.
    /// </summary>
    private static void CheckLogging(SettingsSources sources, IConfigurationProvider provider, SourceKind kind, IConfigurationSource source, string top)
    {
        string[] known = [LogLevelKey, ConsoleKey];
        if (ChildKeys(provider, top).Count == 0)
        {
            provider.TryGet(top, out string? value);
            if (!string.IsNullOrEmpty(value))
                throw Refuse($"{sources.Name(SettingsSchema.LoggingSection, kind, source)} must be a section of settings such as {SettingsSchema.LoggingSection}:{LogLevelKey}:Default, not a value");
            return;
        }
        foreach (string child in ChildKeys(provider, top))
        {
            string childPath = $"{SettingsSchema.LoggingSection}:{child}";
            if (string.Equals(child, ConsoleKey, StringComparison.OrdinalIgnoreCase))
                continue; // the console provider's settings (Console:FormatterName, ...) belong to Microsoft.Extensions.Logging
            if (!string.Equals(child, LogLevelKey, StringComparison.OrdinalIgnoreCase))
            {
                string? near = SettingsSchema.Nearest(child, known);
                throw Refuse(near is null
                    ? $"unknown setting {sources.Name(childPath, kind, source)} (known in {SettingsSchema.LoggingSection}: {string.Join(", ", known)})"
                    : $"unknown setting {sources.Name(childPath, kind, source)} (did you mean {SettingsSchema.LoggingSection}:{near}?)");
            }
            var categories = ChildKeys(provider, $"{top}:{child}");
            if (categories.Count == 0)
            {
                provider.TryGet($"{top}:{child}", out string? value);
                if (!string.IsNullOrEmpty(value))
                    throw Refuse($"{sources.Name(childPath, kind, source)} takes one level per category, such as {SettingsSchema.LoggingSection}:{LogLevelKey}:Default, not a value");
            }
            foreach (string category in categories)
            {
                string path = $"{top}:{child}:{category}";
                if (ChildKeys(provider, path).Count > 0)
                    throw Refuse($"{sources.Name(path, kind, source)} takes a single value, not a section or a list");
                provider.TryGet(path, out string? raw);
                if (!Enum.TryParse(raw, ignoreCase: true, out LogLevel _) || raw is null || char.IsAsciiDigit(raw.TrimStart()[0]) || raw.TrimStart()[0] == '-')
                    throw Refuse($"{sources.NameWithValue(path, kind, source, raw)} must be one of {string.Join(", ", Enum.GetNames<LogLevel>())}");
            }
        }
    }

    private const string LogLevelKey = "LogLevel";
    private const string ConsoleKey = "Console";

    private static string KnownSections() =>
        string.Join(", ", SettingsSchema.Sections.Select(s => s.Name).Append(SettingsSchema.LoggingSection));

    private static List<string> ChildKeys(IConfigurationProvider provider, string? parent) =>
        provider.GetChildKeys([], parent).Distinct(StringComparer.OrdinalIgnoreCase).ToList();

    private static StartupException Refuse(string message) => new(message, StartupFault.Settings);
}
