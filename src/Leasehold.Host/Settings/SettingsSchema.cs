using System.ComponentModel;
using System.Globalization;
using System.Reflection;
using Leasehold.Engine;
using Leasehold.Export;
using Leasehold.Host.Serving;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Server;

namespace Leasehold.Host.Settings;

/// <summary>One configuration section: its name and the options class bound from it.</summary>
/// <param name="Name">The section name ("Nfs4").</param>
/// <param name="Type">The options class; its public settable properties are the section's keys.</param>
/// <param name="Refused">Keys that exist on the class but are not settings, each with the reason given to the user.</param>
public sealed record SettingsSection(string Name, Type Type, IReadOnlyDictionary<string, string> Refused)
{
    /// <summary>The keys a user may set, in declaration order.</summary>
    public IReadOnlyList<PropertyInfo> Keys { get; } = Type
        .GetProperties(BindingFlags.Public | BindingFlags.Instance)
        .Where(p => p.CanWrite && p.SetMethod!.IsPublic && p.GetIndexParameters().Length == 0 && !Refused.ContainsKey(p.Name))
        .ToList();

    public PropertyInfo? Find(string key) =>
        Keys.FirstOrDefault(p => string.Equals(p.Name, key, StringComparison.OrdinalIgnoreCase));
}

/// <summary>
/// The sections Leasehold reads and how their values are written. The keys are the options classes' public settable
/// properties, found by reflection, so a setting added to an options class is a known key (and shows in
/// <c>serve --help</c>) without touching the host.
/// </summary>
public static class SettingsSchema
{
    /// <summary>Defaults the host sets on top of the options classes' own.</summary>
    public static readonly IReadOnlyDictionary<string, string?> HostDefaults = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
    {
        ["Export:Path"] = DefaultExportPath,
    };

    /// <summary>Defaults that are a rule rather than a value, as the help describes them.</summary>
    private static readonly Dictionary<string, string> DefaultRules = new(StringComparer.OrdinalIgnoreCase)
    {
        ["Export:StateDirectory"] = $"{Leasehold.Export.ExportOptions.DefaultStateDirectoryName} beside the export",
        ["Nfs4:GraceTime"] = "the lease time",
        ["Cluster:Etcd"] = "(none: not a cluster)",
        ["Cluster:HistoryFile"] = "(none)",
        ["Admin:Listen"] = "(none: the Unix socket admin.sock in the state directory only)",
    };

    /// <summary>The export when none is named: ./export, which the server may create (a named one must exist).</summary>
    public const string DefaultExportPath = "export";

    /// <summary>The logging section, passed to Microsoft.Extensions.Logging; only its LogLevel values are checked.</summary>
    public const string LoggingSection = "Logging";

    public static readonly IReadOnlyList<SettingsSection> Sections =
    [
        new("Server", typeof(ServerSettings), new Dictionary<string, string>()),
        new("Export", typeof(ExportOptions), new Dictionary<string, string>()),
        new("Nfs4", typeof(Nfs4Options), new Dictionary<string, string>()),
        new("Engine", typeof(LeaseEngineOptions), new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
        {
            [nameof(LeaseEngineOptions.DelegationBreakTime)] =
                "is not a setting: a delegation holder gets one lease period to answer a recall, so set Nfs4:LeaseTime",
        }),
        new("Rpc", typeof(RpcOptions), new Dictionary<string, string>()),
        new("Cluster", typeof(ClusterSettings), new Dictionary<string, string>()),
        new("Admin", typeof(Admin.AdminSettings), new Dictionary<string, string>()),
    ];

    public static SettingsSection? Find(string section) =>
        Sections.FirstOrDefault(s => string.Equals(s.Name, section, StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// The longest any duration setting may be, whatever its class allows: a year is no timeout of a file server's,
    /// only a typo (or "90" read as days). Each options class's Validate() gives the setting's real range.
    /// </summary>
    public static readonly TimeSpan MaxDuration = TimeSpan.FromDays(365);

    /// <summary>
    /// Checks <paramref name="raw"/> as a value for a property of type <paramref name="type"/> and gives it in the
    /// form the configuration binder reads. Returns null when it is fine, else a phrase ("is not a whole number").
    /// A type this does not know is passed through unchecked for the binder.
    /// </summary>
    public static string? Convert(Type type, string? raw, out string? canonical)
    {
        canonical = raw;
        Type t = Nullable.GetUnderlyingType(type) ?? type;
        if (t == typeof(string))
            return null;
        if (string.IsNullOrWhiteSpace(raw))
            return t != type ? null : "has no value"; // an empty value clears a nullable setting (JSON null is empty too)
        string s = raw.Trim();
        if (t == typeof(bool))
        {
            if (!bool.TryParse(s, out bool b))
                return "must be true or false";
            canonical = b ? "true" : "false";
            return null;
        }
        if (t == typeof(TimeSpan))
        {
            if (!Duration.TryParse(s, out TimeSpan d, out string error))
                return error;
            if (d < TimeSpan.Zero)
                return "must not be negative";
            if (d > MaxDuration)
                return $"is too long: {Duration.Format(d)}, more than a year";
            canonical = d.ToString("c", CultureInfo.InvariantCulture);
            return null;
        }
        if (IntegerRange(t) is { } range)
        {
            if (!Int128.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out Int128 n))
                return $"is not a whole number (from {range.Min} to {range.Max})";
            if (n < range.Min || n > range.Max)
                return $"is out of range: a whole number from {range.Min} to {range.Max}";
            canonical = n.ToString(CultureInfo.InvariantCulture);
            return null;
        }
        if (t == typeof(double) || t == typeof(float))
        {
            if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double x) || !double.IsFinite(x))
                return "is not a number";
            canonical = x.ToString("R", CultureInfo.InvariantCulture);
            return null;
        }
        if (t.IsEnum)
        {
            if ((!Enum.TryParse(t, s, ignoreCase: true, out object? e) || !Enum.IsDefined(t, e!) || char.IsAsciiDigit(s[0]) || s[0] == '-')
                && !TryLegacyValue(t, s, out e))
                return $"must be one of {string.Join(", ", Enum.GetNames(t))}";
            canonical = e!.ToString();
            return null;
        }
        return null;
    }

    /// <summary>
    /// A value an enum setting's own <see cref="TypeConverter"/> reads besides its names: the values of a setting that
    /// grew from a boolean into an enum (Nfs4:Delegations reads true and false as On and Off).
    /// </summary>
    private static bool TryLegacyValue(Type t, string s, out object? value)
    {
        value = null;
        var converter = TypeDescriptor.GetConverter(t);
        if (converter.GetType() == typeof(EnumConverter) || !converter.CanConvertFrom(typeof(string)))
            return false;
        try
        {
            value = converter.ConvertFromInvariantString(s);
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException or NotSupportedException)
        {
            return false;
        }
        return value is not null && Enum.IsDefined(t, value) && !char.IsAsciiDigit(s[0]) && s[0] != '-';
    }

    private static (Int128 Min, Int128 Max)? IntegerRange(Type t) =>
        t == typeof(int) ? (int.MinValue, int.MaxValue)
        : t == typeof(uint) ? (uint.MinValue, uint.MaxValue)
        : t == typeof(long) ? (long.MinValue, long.MaxValue)
        : t == typeof(ulong) ? (ulong.MinValue, ulong.MaxValue)
        : t == typeof(short) ? (short.MinValue, short.MaxValue)
        : t == typeof(ushort) ? (ushort.MinValue, ushort.MaxValue)
        : t == typeof(byte) ? (byte.MinValue, byte.MaxValue)
        : t == typeof(sbyte) ? (sbyte.MinValue, sbyte.MaxValue)
        : null;

    /// <summary>A default as the help prints it: durations in seconds, booleans in lower case, enums with their choices, "(none)" for nothing.</summary>
    public static string FormatDefault(SettingsSection section, PropertyInfo key, object defaults)
    {
        if (DefaultRules.TryGetValue($"{section.Name}:{key.Name}", out string? rule))
            return rule;
        if (HostDefaults.TryGetValue($"{section.Name}:{key.Name}", out string? hostDefault))
            return hostDefault ?? "(none)";
        object? value = key.GetValue(defaults);
        return value switch
        {
            null => "(none)",
            "" => "(none)",
            TimeSpan d => Duration.Format(d),
            bool b => b ? "true" : "false",
            Enum e => $"{e} (one of {string.Join(", ", Enum.GetNames(e.GetType()))})",
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            _ => value.ToString() ?? "",
        };
    }

    /// <summary>The nearest known name to <paramref name="unknown"/>, if one is near enough to be a typo.</summary>
    public static string? Nearest(string unknown, IEnumerable<string> known)
    {
        string? best = null;
        int bestDistance = int.MaxValue;
        foreach (string candidate in known)
        {
            int distance = EditDistance(unknown.ToUpperInvariant(), candidate.ToUpperInvariant());
            if (distance < bestDistance)
            {
                best = candidate;
                bestDistance = distance;
            }
        }
        return best is not null && bestDistance <= Math.Max(2, unknown.Length / 3) ? best : null;
    }

    /// <summary>Damerau-Levenshtein distance (adjacent swaps count one), as spelling checkers use.</summary>
    private static int EditDistance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++)
            d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++)
            d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        }
        return d[a.Length, b.Length];
    }
}
