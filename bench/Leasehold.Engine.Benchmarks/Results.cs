using System.Globalization;
using System.Text;

namespace Leasehold.Engine.Benchmarks;

/// <summary>One line of the results table: a target from the issue, what was measured, and whether it is met.</summary>
/// <param name="Id">Orders the table: the target's number, then a letter for its variants ("1a", "1b").</param>
/// <param name="Pass">Null for a row that is context, not a verdict (a kernel baseline, a second variant).</param>
internal sealed record ResultRow(string Id, string What, string Target, string Measured, bool? Pass, string Note = "")
{
    private const char Separator = '\t';

    public string ToLine() => string.Join(Separator, Id, What, Target, Measured, Pass switch { true => "pass", false => "FAIL", null => "-" }, Note);

    public static ResultRow Parse(string line)
    {
        var f = line.Split(Separator);
        if (f.Length != 6)
            throw new FormatException($"Expected 6 tab-separated fields in a result line, got {f.Length}: {line}");
        bool? pass = f[4] switch { "pass" => true, "FAIL" => false, _ => null };
        return new ResultRow(f[0], f[1], f[2], f[3], pass, f[5]);
    }
}

/// <summary>
/// Where the modes of the benchmark exe leave their rows. Each mode runs in its own process (the heap measurement needs
/// a clean one) and writes its own file; <c>summary</c> gathers them into one Markdown table.
/// </summary>
internal sealed class ResultStore(string directory)
{
    public string Directory { get; } = directory;

    public void Write(string mode, IEnumerable<ResultRow> rows)
    {
        System.IO.Directory.CreateDirectory(Directory);
        var lines = rows.Select(r => r.ToLine()).ToList();
        File.WriteAllLines(Path.Combine(Directory, mode + ".tsv"), lines);
        foreach (var row in rows)
            Console.WriteLine($"[{row.Id}] {row.What}: {row.Measured} (target {row.Target}) {(row.Pass switch { true => "pass", false => "FAIL", null => "" })} {row.Note}");
    }

    public string Summarize()
    {
        var rows = System.IO.Directory.Exists(Directory)
            ? System.IO.Directory.GetFiles(Directory, "*.tsv").SelectMany(File.ReadAllLines).Where(l => l.Length > 0).Select(ResultRow.Parse)
            : [];
        var sb = new StringBuilder();
        sb.AppendLine("| # | What | Target | Measured | Result | Notes |");
        sb.AppendLine("|---|------|--------|----------|--------|-------|");
        foreach (var r in rows.OrderBy(r => r.Id, StringComparer.Ordinal))
            sb.AppendLine(CultureInfo.InvariantCulture, $"| {r.Id} | {r.What} | {r.Target} | {r.Measured} | {(r.Pass switch { true => "pass", false => "**FAIL**", null => "–" })} | {r.Note} |");
        var text = sb.ToString();
        File.WriteAllText(Path.Combine(Directory, "results.md"), text);
        return text;
    }
}

/// <summary>Formatting shared by the modes, so the table reads the same whichever mode wrote a row.</summary>
internal static class Fmt
{
    public static string Ns(double ns) => ns < 1_000 ? $"{ns:F1} ns" : ns < 1_000_000 ? $"{ns / 1_000:F2} µs" : $"{ns / 1_000_000:F2} ms";

    public static string Rate(double perSecond) => perSecond >= 1_000_000 ? $"{perSecond / 1_000_000:F2} M/s" : $"{perSecond / 1_000:F0} k/s";

    public static string MiB(double bytes) => $"{bytes / (1024 * 1024):F1} MiB";

    /// <summary>The value at quantile <paramref name="q"/> of sorted samples (nearest rank).</summary>
    public static double Quantile(double[] sorted, double q) => sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)];
}
