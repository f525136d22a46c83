using System.Text;
using Leasehold.Export;

namespace Leasehold.Host.Settings;

/// <summary>
/// The settings part of <c>leasehold serve --help</c>: where settings come from, how durations are written, and
/// every key with its default, read from the options classes so it cannot fall behind them.
/// </summary>
public static class SettingsHelp
{
    public static string Text(string configFile, string environmentPrefix)
    {
        var text = new StringBuilder();
        text.AppendLine("Settings:");
        text.AppendLine($"  Read weakest first: the defaults below; a JSON file (--config FILE, or ./{configFile} when present);");
        text.AppendLine($"  environment variables {environmentPrefix}<Section>__<Key>; the options above. Unknown keys are refused.");
        text.AppendLine($"  Durations: {Duration.Forms}.");
        text.AppendLine("  JSON:        { \"Export\": { \"Path\": \"/srv/share\", \"ReadOnly\": true }, \"Nfs4\": { \"LeaseTime\": 90 } }");
        text.AppendLine($"  Environment: {environmentPrefix}Export__ReadOnly=true {environmentPrefix}Nfs4__LeaseTime=90");
        text.AppendLine();
        var rows = new List<(string Key, string Default)>();
        foreach (var section in SettingsSchema.Sections)
        {
            object defaults = Activator.CreateInstance(section.Type)!;
            foreach (var key in section.Keys)
                rows.Add(($"{section.Name}:{key.Name}", SettingsSchema.FormatDefault(section, key, defaults)));
        }
        rows.Add(($"{SettingsSchema.LoggingSection}:LogLevel:<category>", "Information (Trace, Debug, Information, Warning, Error, Critical, None)"));
        int width = rows.Max(r => r.Key.Length) + 2;
        foreach (var (key, value) in rows)
            text.AppendLine($"  {key.PadRight(width)}{value}");
        text.AppendLine();
        text.AppendLine("State:");
        text.AppendLine($"  {ExportOptions.DefaultStateDirectoryName}/ beside the export holds the key that signs file handles: keep it, so");
        text.AppendLine("  clients' handles survive a restart; never export it or commit it (anyone with the key can forge handles).");
        text.AppendLine();
        text.AppendLine("Exit status: 0 after a clean stop; 1 when the machine refuses (no such directory, address in use);");
        text.Append("  2 for bad settings or usage. A refused start prints one line on stderr.");
        return text.ToString();
    }
}
