using System.Globalization;
using Leasehold.Nfs4.Client;

namespace Leasehold.LoadGen;

internal enum Workload
{
    Meta,
    Read,
    Recall,
    FanOut,
    DelegMemory,
    LocalOpen,
    Tokens,
    SeqRead,
    SeqWrite,
}

/// <summary>
/// One server of a <c>--targets</c> comparison: a label for the report, where it listens, the path to work in, and
/// optionally its process id, to report the server's CPU time per COMPOUND.
/// </summary>
internal static class WorkloadKinds
{
    /// <summary>The closed-loop workloads: ops/s and latency over a window, with <c>--targets</c> comparisons.</summary>
    public static bool IsClosedLoop(this Workload w) => w is Workload.Meta or Workload.Read or Workload.SeqRead or Workload.SeqWrite;

    /// <summary>The workloads whose ops move --io-size bytes each, reported in MiB/s too.</summary>
    public static bool IsSequential(this Workload w) => w is Workload.SeqRead or Workload.SeqWrite;

    /// <summary>The name on the command line.</summary>
    public static string Name(this Workload w) => w switch
    {
        Workload.FanOut => "fanout",
        Workload.DelegMemory => "deleg-memory",
        Workload.LocalOpen => "local-open",
        Workload.Tokens => "tokens",
        _ => w.ToString().ToLowerInvariant(),
    };
}

internal sealed record Target(string Label, Nfs4Endpoint Server, string Path, int? Pid = null);

/// <summary>Command-line options. Defaults are the numbers docs/loadgen.md reports.</summary>
internal sealed record LoadGenOptions
{
    /// <summary>The server; null only with --targets or the in-process deleg-memory workload.</summary>
    public Nfs4Endpoint? Server { get; init; }
    public string Path { get; init; } = "/export";
    public int Sessions { get; init; } = 8;
    public int Depth { get; init; } = 1;
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(20);
    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(5);
    public Workload Workload { get; init; } = Workload.Meta;
    public int Files { get; init; } = 256;
    public string Directory { get; init; } = "leasehold-loadgen";
    /// <summary>Bytes per file: meta/read 4096 (at most 1 MiB); seqread/seqwrite 256 MiB (sessions x file-size at most 16 GiB).</summary>
    public long FileSize { get; init; } = 4096;

    /// <summary>seqread/seqwrite: bytes per READ or WRITE asked for (clamped to what the server's session and file allow).</summary>
    public int IoSize { get; init; } = 1024 * 1024;

    /// <summary>seqwrite: a session sends COMMIT after each this many bytes written (UNSTABLE), and at the end of the run.</summary>
    public long CommitEvery { get; init; } = 16L * 1024 * 1024;
    public string? Label { get; init; }

    /// <summary>meta/read/seqread/seqwrite against several servers in turn, round-robin, <see cref="Rounds"/> times each.</summary>
    public IReadOnlyList<Target>? Targets { get; init; }

    /// <summary>Rounds of a --targets comparison (each server once per round), or of the fanout workload.</summary>
    public int Rounds { get; init; } = 3;

    /// <summary>recall: the server the writer opens files through (another node of a cluster over the same tree); null: <see cref="Server"/>.</summary>
    public Nfs4Endpoint? Writer { get; init; }

    /// <summary>tokens: the etcd client endpoints.</summary>
    public IReadOnlyList<string>? Etcd { get; init; }

    /// <summary>recall: delegations each holder session keeps outstanding.</summary>
    public int FilesPerSession { get; init; } = 100;

    /// <summary>recall, local-open: measured recalls (local-open: local opens), after <see cref="WarmupRecalls"/> unmeasured ones.</summary>
    public int Recalls { get; init; } = 1000;
    public int WarmupRecalls { get; init; } = 100;

    /// <summary>local-open: the directory on this machine that is <see cref="Path"/> over NFS (the server's export, for --path /).</summary>
    public string? Export { get; init; }

    /// <summary>The server's process id, to report its CPU time next to the load generator's (meta/read: per COMPOUND).</summary>
    public int? ServerPid { get; init; }

    /// <summary>deleg-memory: hold the opens instead of closing each after its OPEN (needs a descriptor per file).</summary>
    public bool KeepOpens { get; init; }

    /// <summary>fanout: the writer's wait between an NFS4ERR_DELAY and its next OPEN; rounds cycle through the list.</summary>
    public IReadOnlyList<TimeSpan> RetryIntervals { get; init; } = [TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(10)];

    public const string Usage = """
        usage: Leasehold.LoadGen --server HOST:PORT [options]
               Leasehold.LoadGen --targets LABEL=HOST:PORT[/PATH][@PID],... [--rounds 3] [options]
               Leasehold.LoadGen --workload deleg-memory [--files 100000] [--sessions 10]
               Leasehold.LoadGen --workload tokens --etcd URL[,URL...] [--sessions 8]
          --server HOST:PORT     NFSv4.1 server (required, except with --targets or --workload deleg-memory)
          --path /export         directory to work in, from the server's pseudo-root
          --workload W           meta:   OPEN+GETFH+GETATTR then CLOSE per op (closed loop, ops/s and latency)
                                 read:   one 4 KiB READ per op
                                 seqread:  one --io-size READ per op, each session at increasing offsets in a
                                         --file-size file of its own, wrapping at its end (ops/s and MiB/s)
                                 seqwrite: one --io-size WRITE UNSTABLE per op, likewise; a COMMIT after each
                                         --commit-every bytes (counted in the latency of the WRITE that crossed
                                         the mark) and one at the end of the run
                                 recall: CB_RECALL latency; --sessions holders keep --files-per-session read
                                         delegations each; a writer opens one file for write at a time
                                 fanout: --sessions holders each hold a read delegation on one file; a writer opens
                                         it for write; times all CB_RECALLs and the writer's retried OPEN
                                 deleg-memory: starts Leasehold in this process; heap per outstanding delegation,
                                         delegations on vs off, over --files opens of distinct files
                                 local-open: a local open(O_WRONLY) of a read-delegated file, timed from call to
                                         return, while the holder answers the recall at once; and of an undelegated
                                         file (baseline). Needs the server on this machine (as root) and --export
                                 tokens: two cluster nodes in this process acquire per-file tokens through the etcd
                                 of --etcd (their own key prefix): uncontended acquisitions/s with --sessions
                                 workers, then the latency of one node taking a file from the other
          --etcd URL,...         tokens: the etcd client endpoints
          --sessions N           concurrent sessions, one TCP connection each
                                 (default 8; recall 100; fanout 1000; deleg-memory 10; local-open 1)
          --depth 1              requests in flight per session (each on its own slot)
          --duration 20s         measured window (s, ms or m)
          --warmup 5s            unmeasured run before the window
          --files 256            files of --file-size bytes, created once under PATH/DIR (deleg-memory: 100000)
          --file-size 4096       bytes (K, M, G suffixes: powers of 1024); seqread/seqwrite: 256M, one file a session
          --io-size 1M           seqread/seqwrite: bytes per READ/WRITE (4K to 4M; clamped to the server's
                                 ca_maxrequestsize/ca_maxresponsesize less headers, and its maxread/maxwrite)
          --commit-every 16M     seqwrite: COMMIT after each this many bytes a session wrote
          --dir leasehold-loadgen  (recall: leasehold-recall; fanout: leasehold-fanout; local-open: leasehold-local-open;
                                 seqread/seqwrite: leasehold-seq)
          --label TEXT           name of the server in the report (default: the server address)
          --targets L=H:P/PATH,...  meta/read/seqread/seqwrite: run against each server in turn, --rounds times, and compare
          --rounds N             --targets rounds (default 3); fanout rounds (default 10, a fresh file each)
          --files-per-session 100  recall: delegations each holder keeps outstanding
          --writer HOST:PORT     recall: the writer opens through this server instead (another node of a cluster
                                 over the same tree: cross-node recall latency)
          --recalls 1000         recall: measured recalls (after --warmup-recalls 100 unmeasured); local-open: measured
          --warmup-recalls 100     local opens, a fresh file each (files are not delegated again within 30 s of a recall)
          --export DIR           local-open: the directory on this machine that is --path over NFS (the server's
                                 export with --path /); the load generator opens DIR/--dir/f-NNNNN itself
          --server-pid PID       recall, fanout, local-open: also report the server process's CPU time (from /proc/PID/stat)
          --keep-opens false     deleg-memory: hold every open (true) instead of CLOSE after each OPEN; the server keeps
                                 a descriptor per open file, so this needs ulimit -n above --files
          --retry 1ms,10ms       fanout: the writer's wait after NFS4ERR_DELAY before it retries the OPEN; rounds
                                 alternate between the values (0 = resend as soon as the DELAY arrives)
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

        var workload = Take("workload", "meta") switch
        {
            "meta" => Workload.Meta,
            "read" => Workload.Read,
            "recall" => Workload.Recall,
            "fanout" => Workload.FanOut,
            "deleg-memory" => Workload.DelegMemory,
            "local-open" => Workload.LocalOpen,
            "tokens" => Workload.Tokens,
            "seqread" => Workload.SeqRead,
            "seqwrite" => Workload.SeqWrite,
            var w => throw new ArgumentException($"--workload must be meta, read, seqread, seqwrite, recall, fanout, deleg-memory, local-open or tokens, not '{w}'"),
        };
        string path = Take("path", "/export");
        IReadOnlyList<Target>? targets = values.Remove("targets", out var t) ? ParseTargets(t, path) : null;
        Nfs4Endpoint? server = values.Remove("server", out var s) ? Nfs4Endpoint.Parse(s) : null;
        if (targets is not null && (server is not null || !workload.IsClosedLoop()))
            throw new ArgumentException("--targets replaces --server, and only for the meta, read, seqread and seqwrite workloads");
        bool sequential = workload is Workload.SeqRead or Workload.SeqWrite;
        if (workload is Workload.DelegMemory or Workload.Tokens && server is not null)
            throw new ArgumentException($"--workload {workload.Name()} needs no --server");
        if (server is null && targets is null && workload is not (Workload.DelegMemory or Workload.Tokens))
            throw new ArgumentException("--server is required");

        var options = new LoadGenOptions
        {
            Server = server,
            Targets = targets,
            Writer = values.Remove("writer", out var writer) ? Nfs4Endpoint.Parse(writer) : null,
            Etcd = values.Remove("etcd", out var etcd) ? etcd.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : null,
            Path = path,
            Workload = workload,
            Sessions = PositiveInt(Take("sessions", workload switch
            {
                Workload.Recall => "100",
                Workload.FanOut => "1000",
                Workload.DelegMemory => "10",
                Workload.LocalOpen => "1",
                _ => "8",
            }), "sessions"),
            Depth = PositiveInt(Take("depth", "1"), "depth"),
            Duration = ParseDuration(Take("duration", "20s")),
            Warmup = ParseDuration(Take("warmup", "5s"), allowZero: true),
            Files = PositiveInt(Take("files", workload == Workload.DelegMemory ? "100000" : "256"), "files", max: 1_000_000),
            FileSize = ParseSize(Take("file-size", sequential ? "256M" : "4096"), "file-size", max: sequential ? 4L << 30 : 1 << 20),
            IoSize = (int)ParseSize(Take("io-size", "1M"), "io-size", max: 4 << 20, min: 4096),
            CommitEvery = ParseSize(Take("commit-every", "16M"), "commit-every", max: 4L << 30),
            Directory = Take("dir", workload switch
            {
                Workload.Recall => "leasehold-recall",
                Workload.FanOut => "leasehold-fanout",
                Workload.LocalOpen => "leasehold-local-open",
                Workload.SeqRead or Workload.SeqWrite => "leasehold-seq",
                _ => "leasehold-loadgen",
            }),
            Label = values.Remove("label", out var label) ? label : null,
            Rounds = PositiveInt(Take("rounds", workload == Workload.FanOut ? "10" : "3"), "rounds", max: 1000),
            FilesPerSession = PositiveInt(Take("files-per-session", "100"), "files-per-session"),
            Recalls = PositiveInt(Take("recalls", "1000"), "recalls"),
            WarmupRecalls = NonNegativeInt(Take("warmup-recalls", "100"), "warmup-recalls"),
            Export = values.Remove("export", out var export) ? export : null,
            ServerPid = values.Remove("server-pid", out var pid) ? PositiveInt(pid, "server-pid", max: int.MaxValue) : null,
            KeepOpens = Take("keep-opens", "false") switch
            {
                "true" => true,
                "false" => false,
                var k => throw new ArgumentException($"--keep-opens must be true or false, not '{k}'"),
            },
            RetryIntervals = [.. Take("retry", "1ms,10ms").Split(',').Select(r => ParseDuration(r.Trim(), allowZero: true))],
        };
        if (values.Count > 0)
            throw new ArgumentException($"unknown option --{values.Keys.First()}");
        if (options.Duration > TimeSpan.FromHours(1) || options.Warmup > TimeSpan.FromMinutes(10))
            throw new ArgumentException("--duration is limited to 1h and --warmup to 10m");
        if (options.RetryIntervals.Any(r => r > TimeSpan.FromSeconds(1)))
            throw new ArgumentException("--retry intervals are limited to 1s");
        if (workload == Workload.Recall && (long)options.Sessions * options.FilesPerSession + options.Recalls + options.WarmupRecalls > 1_000_000)
            throw new ArgumentException("recall: sessions x files-per-session + recalls is limited to 1,000,000 files");
        if (workload == Workload.Tokens && options.Etcd is null)
            throw new ArgumentException("tokens needs --etcd URL[,URL...]");
        if (options.Writer is not null && workload != Workload.Recall)
            throw new ArgumentException("--writer is for the recall workload only");
        if (workload == Workload.LocalOpen && options.Export is null)
            throw new ArgumentException("local-open needs --export, the directory on this machine that is --path over NFS");
        if (workload != Workload.LocalOpen && options.Export is not null)
            throw new ArgumentException("--export is for the local-open workload only");
        if (sequential && options.FileSize < options.IoSize)
            throw new ArgumentException($"--file-size ({options.FileSize} B) must be at least --io-size ({options.IoSize} B)");
        if (sequential && options.Sessions * options.FileSize > 16L << 30)
            throw new ArgumentException("seqread/seqwrite: sessions x file-size is limited to 16 GiB (a file a session, on the server's disk)");
        if (workload == Workload.SeqWrite && options.CommitEvery < options.IoSize)
            throw new ArgumentException("--commit-every must be at least --io-size");
        if (workload == Workload.LocalOpen && 2L * (options.Recalls + options.WarmupRecalls) > 1_000_000)
            throw new ArgumentException("local-open: 2 x (recalls + warmup-recalls) is limited to 1,000,000 files");
        return options;
    }

    /// <summary>"label=host:port/path@pid,..."; a target without a path works in <paramref name="defaultPath"/>; "@pid" is optional.</summary>
    private static List<Target> ParseTargets(string text, string defaultPath)
    {
        var targets = new List<Target>();
        foreach (string part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
                throw new ArgumentException($"--targets wants LABEL=HOST:PORT[/PATH], not '{part}'");
            string address = part[(eq + 1)..];
            int? pid = null;
            int at = address.LastIndexOf('@');
            if (at >= 0)
            {
                pid = PositiveInt(address[(at + 1)..], "targets pid", max: int.MaxValue);
                address = address[..at];
            }
            var endpoint = Nfs4Endpoint.Parse(address);
            bool hasPath = address.Contains('/', StringComparison.Ordinal);
            targets.Add(new Target(part[..eq], endpoint, hasPath ? endpoint.Path : defaultPath, pid));
        }
        if (targets.Count == 0)
            throw new ArgumentException("--targets names no server");
        return targets;
    }

    private static int PositiveInt(string text, string name, int max = 100_000) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v > 0 && v <= max
            ? v : throw new ArgumentException($"--{name} must be a positive integer up to {max}");

    /// <summary>"4096", "64K", "1M", "2G" (powers of 1024) as bytes, from <paramref name="min"/> to <paramref name="max"/>.</summary>
    internal static long ParseSize(string text, string name, long max, long min = 1)
    {
        (string number, long scale) = text.Length == 0 ? (text, 1L) : char.ToUpperInvariant(text[^1]) switch
        {
            'K' => (text[..^1], 1L << 10),
            'M' => (text[..^1], 1L << 20),
            'G' => (text[..^1], 1L << 30),
            _ => (text, 1L),
        };
        return long.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out long v) && v <= max / scale && v * scale >= min
            ? v * scale : throw new ArgumentException($"--{name} must be a size from {min} B to {max} B (like 4096, 64K, 1M, 2G)");
    }

    private static int NonNegativeInt(string text, string name) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v <= 100_000
            ? v : throw new ArgumentException($"--{name} must be an integer from 0 to 100,000");

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
