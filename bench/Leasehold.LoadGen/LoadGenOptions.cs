using System.Globalization;
using Leasehold.Nfs4.Client;

namespace Leasehold.LoadGen;

internal enum Workload
{
    Meta,
    Read,
}

/// <summary>Command-line options. Defaults are the numbers docs/loadgen.md reports.</summary>
internal sealed record LoadGenOptions
{
    public required Nfs4Endpoint Server { get; init; }
    public string Path { get; init; } = "/export";
    public int Sessions { get; init; } = 8;
    public int Depth { get; init; } = 1;
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(20);
    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(5);
    public Workload Workload { get; init; } = Workload.Meta;
    public int Files { get; init; } = 256;
    public string Directory { get; init; } = "leasehold-loadgen";
    public int FileSize { get; init; } = 4096;
    public string? Label { get; init; }

    public const string Usage = """
        usage: Leasehold.LoadGen --server HOST:PORT [options]
          --server HOST:PORT     NFSv4.1 server (required)
          --path /export         directory to work in, from the server's pseudo-root
          --workload meta|read   meta: OPEN+GETFH+GETATTR then CLOSE per op; read: one 4 KiB READ per op
          --sessions 8           concurrent sessions, one TCP connection each
          --depth 1              requests in flight per session (each on its own slot)
          --duration 20s         measured window (s, ms or m)
          --warmup 5s            unmeasured run before the window
          --files 256            files of --file-size bytes, created once under PATH/DIR
          --file-size 4096
          --dir leasehold-loadgen
          --label TEXT           name of the server in the report (default: the server address)
        """;

    public static LoadGenOptions Parse(string[] args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < args.Length; i++)
        {
            string key = args[i];
            if (!key.StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
                throw new ArgumentException($"expected --name value, got '{key}'");
            values[key[2..]] = args[++i];
        }
        string Take(string name, string fallback) => values.Remove(name, out var v) ? v : fallback;

        if (!values.Remove("server", out var server))
            throw new ArgumentException("--server is required");
        var options = new LoadGenOptions
        {
            Server = Nfs4Endpoint.Parse(server),
            Path = Take("path", "/export"),
            Sessions = PositiveInt(Take("sessions", "8"), "sessions"),
            Depth = PositiveInt(Take("depth", "1"), "depth"),
            Duration = ParseDuration(Take("duration", "20s")),
            Warmup = ParseDuration(Take("warmup", "5s"), allowZero: true),
            Workload = Take("workload", "meta") switch
            {
                "meta" => Workload.Meta,
                "read" => Workload.Read,
                var w => throw new ArgumentException($"--workload must be meta or read, not '{w}'"),
            },
            Files = PositiveInt(Take("files", "256"), "files"),
            FileSize = PositiveInt(Take("file-size", "4096"), "file-size"),
            Directory = Take("dir", "leasehold-loadgen"),
            Label = values.Remove("label", out var label) ? label : null,
        };
        if (values.Count > 0)
            throw new ArgumentException($"unknown option --{values.Keys.First()}");
        if (options.Duration > TimeSpan.FromHours(1) || options.Warmup > TimeSpan.FromMinutes(10))
            throw new ArgumentException("--duration is limited to 1h and --warmup to 10m");
        if (options.FileSize > 1024 * 1024)
            throw new ArgumentException("--file-size is limited to 1 MiB (one READ)");
        return options;
    }

    private static int PositiveInt(string text, string name) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v > 0 && v <= 100_000
            ? v : throw new ArgumentException($"--{name} must be a positive integer");

    internal static TimeSpan ParseDuration(string text, bool allowZero = false)
    {
        (string number, double scale) = text switch
        {
            _ when text.EndsWith("ms", StringComparison.Ordinal) => (text[..^2], 0.001),
            _ when text.EndsWith('s') => (text[..^1], 1.0),
            _ when text.EndsWith('m') => (text[..^1], 60.0),
            _ => (text, 1.0),
        };
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || value < 0 || (!allowZero && value == 0))
            throw new ArgumentException($"'{text}' is not a duration like 20s, 500ms or 1m");
        return TimeSpan.FromSeconds(value * scale);
    }
}
