using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Leasehold.Nfs4.Client;
using Leasehold.Nfs4.Client.Rpc;

namespace Leasehold.LoadGen;

/// <summary>What one worker measured: latencies (timestamp ticks) of the operations that ran wholly inside the window.</summary>
internal sealed class WorkerStats
{
    public List<long> Latencies { get; } = new(1 << 16);
    public long Compounds;
    public long Errors;
    public ConcurrentDictionary<string, long> ErrorKinds { get; } = new(StringComparer.Ordinal);

    public void Error(string kind)
    {
        Errors++;
        ErrorKinds.AddOrUpdate(kind, 1, (_, n) => n + 1);
    }
}

/// <summary>
/// Prepares the files, opens the sessions, runs warmup then the measured window, and reports.
/// One "op" is one unit of client work as defined in docs/loadgen.md:
///   meta: COMPOUND{SEQUENCE PUTFH(dir) OPEN(name, READ, nocreate) GETFH GETATTR} then COMPOUND{SEQUENCE PUTFH CLOSE}
///         = 1 op (2 compounds, 2 round trips); latency is the pair's;
///   read: COMPOUND{SEQUENCE PUTFH READ(4 KiB at 0)} on a file the session opened beforehand = 1 op.
/// </summary>
internal sealed class Runner(LoadGenOptions options, TimeProvider time, TextWriter output)
{
    private static readonly AttrBitmap MetaAttrs = AttrBitmap.Of(FileAttr.Type, FileAttr.Change, FileAttr.Size, FileAttr.FileId,
        FileAttr.Mode, FileAttr.NumLinks, FileAttr.Owner, FileAttr.OwnerGroup, FileAttr.TimeModify);

    private string[] _names = [];
    private FileHandle _dir = new([]);

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        string label = options.Label ?? $"{options.Server.Host}:{options.Server.Port}";
        output.WriteLine($"leasehold-loadgen: {options.Workload.ToString().ToLowerInvariant()} against {label}{options.Path}, " +
            $"{options.Sessions} sessions x depth {options.Depth}, {options.Files} files of {options.FileSize} B, " +
            $"warmup {options.Warmup.TotalSeconds:0.#} s, window {options.Duration.TotalSeconds:0.#} s");
        var endpoint = await options.Server.ResolveAsync(cancellationToken);

        var prepStart = time.GetTimestamp();
        await PrepareAsync(endpoint, cancellationToken);
        output.WriteLine($"prepared {options.Files} files in {options.Path.TrimEnd('/')}/{options.Directory} ({time.GetElapsedTime(prepStart).TotalSeconds:0.0} s)");

        var sessionOptions = new Nfs4SessionOptions { Slots = (uint)options.Depth };
        var sessions = new Nfs4Session[options.Sessions];
        try
        {
            for (int i = 0; i < sessions.Length; i++)
                sessions[i] = await Nfs4Session.ConnectAsync(endpoint, RpcAuth.Root, sessionOptions, cancellationToken);

            // Read workload: each session (and each depth lane) opens every file once, before the clock starts.
            var opened = new (FileHandle Fh, StateId Sid)[options.Sessions][];
            if (options.Workload == Workload.Read)
            {
                await Parallel.ForAsync(0, options.Sessions, cancellationToken, async (s, ct) =>
                {
                    var files = new (FileHandle, StateId)[_names.Length];
                    var owner = sessions[s].NewOwner("loadgen-read");
                    for (int f = 0; f < _names.Length; f++)
                    {
                        var o = (await sessions[s].OpenAsync(_dir, _names[f], ShareAccess.Read, owner: owner, cancellationToken: ct)).ValueOrThrow();
                        files[f] = (o.FileHandle, o.StateId);
                    }
                    opened[s] = files;
                });
            }

            long warmupStart = time.GetTimestamp();
            long windowStart = warmupStart + (long)(options.Warmup.TotalSeconds * time.TimestampFrequency);
            long windowEnd = windowStart + (long)(options.Duration.TotalSeconds * time.TimestampFrequency);
            // Workers stop issuing at the window's end; the run as a whole is bounded by this token too.
            using var stop = new CancellationTokenSource(options.Warmup + options.Duration, time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(stop.Token, cancellationToken);
            var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;

            var stats = new List<WorkerStats>();
            var workers = new List<Task>();
            for (int s = 0; s < options.Sessions; s++)
            {
                for (int d = 0; d < options.Depth; d++)
                {
                    var st = new WorkerStats();
                    stats.Add(st);
                    var session = sessions[s];
                    var files = opened[s];
                    int seed = s * 1000 + d;
                    workers.Add(Task.Run(() => options.Workload == Workload.Meta
                        ? MetaLoopAsync(session, st, seed, windowStart, windowEnd, linked.Token)
                        : ReadLoopAsync(session, files, st, seed, windowStart, windowEnd, linked.Token), CancellationToken.None));
                }
            }
            await Task.WhenAll(workers);
            var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
            Report(label, stats, cpu);

            if (options.Workload == Workload.Read)
            {
                for (int s = 0; s < sessions.Length; s++)
                    foreach (var (fh, sid) in opened[s] ?? [])
                        await sessions[s].CloseAsync(fh, sid, cancellationToken);
            }
            return stats.Sum(s => s.Errors) == 0 ? 0 : 3;
        }
        finally
        {
            foreach (var s in sessions)
            {
                if (s is not null)
                    await s.DisposeAsync();
            }
        }
    }

    private async Task PrepareAsync(System.Net.IPEndPoint endpoint, CancellationToken cancellationToken)
    {
        await using var setup = await Nfs4Session.ConnectAsync(endpoint, RpcAuth.Root, new Nfs4SessionOptions { Slots = 16 }, cancellationToken);
        var root = (await setup.LookupPathAsync(options.Path, cancellationToken)).ValueOrThrow();
        var dir = await setup.LookupAsync(root, options.Directory, cancellationToken);
        _dir = dir.IsOk ? dir.Value! : (await setup.MkdirAsync(root, options.Directory, new SetAttributes { Mode = 0x1ED }, cancellationToken)).ValueOrThrow();
        _names = Enumerable.Range(0, options.Files).Select(i => $"f-{i:D5}").ToArray();
        byte[] body = new byte[options.FileSize];
        new Random(42).NextBytes(body);
        await Parallel.ForEachAsync(_names, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken }, async (name, ct) =>
        {
            var existing = await setup.LookupAsync(_dir, name, ct);
            if (existing.IsOk && (await setup.GetAttrAsync(existing.Value!, AttrBitmap.Of(FileAttr.Size), ct)).Value?.Size == (ulong)options.FileSize)
                return;
            var f = (await setup.CreateAsync(_dir, name, new SetAttributes { Mode = 0x1A4 }, cancellationToken: ct)).ValueOrThrow();
            var w = (await setup.WriteAsync(f.FileHandle, f.StateId, 0, body, StableHow.FileSync, ct)).ValueOrThrow();
            if (w.Count != body.Length)
                throw new IOException($"short write preparing {name}: {w.Count} of {body.Length}");
            (await setup.SetAttrAsync(f.FileHandle, new SetAttributes { Size = (ulong)options.FileSize }, f.StateId, ct)).ValueOrThrow();
            (await setup.CloseAsync(f.FileHandle, f.StateId, ct)).ValueOrThrow();
        });
    }

    private async Task MetaLoopAsync(Nfs4Session session, WorkerStats st, int seed, long windowStart, long windowEnd, CancellationToken ct)
    {
        var rng = new Random(seed);
        var owner = session.NewOwner("loadgen-meta"); // one per lane: opens on one lane never share a stateid with another's
        while (!ct.IsCancellationRequested)
        {
            string name = _names[rng.Next(_names.Length)];
            long start = time.GetTimestamp();
            try
            {
                using var open = new CompoundBuilder().PutFh(_dir).Open(name, ShareAccess.Read, owner).GetFh().GetAttr(MetaAttrs);
                var reply = await session.CompoundAsync(open, CancellationToken.None);
                st.Compounds++;
                if (!reply.IsOk)
                {
                    st.Error($"OPEN compound: {reply.Status} at {reply.Failed?.Op}");
                    continue;
                }
                var o = reply.Get<OpenResult>();
                var fh = reply.Get<GetFhResult>().FileHandle!;
                using var close = new CompoundBuilder().PutFh(fh).Close(o.StateId);
                var closed = await session.CompoundAsync(close, CancellationToken.None);
                st.Compounds++;
                if (!closed.IsOk)
                {
                    st.Error($"CLOSE compound: {closed.Status} at {closed.Failed?.Op}");
                    continue;
                }
            }
            catch (Exception ex) when (ex is IOException or TimeoutException or RpcException)
            {
                st.Error(ex.GetType().Name);
                if (session.Rpc.State != RpcClientState.Open)
                    return;
                continue;
            }
            long end = time.GetTimestamp();
            if (start >= windowStart && end <= windowEnd)
                st.Latencies.Add(end - start);
        }
    }

    private async Task ReadLoopAsync(Nfs4Session session, (FileHandle Fh, StateId Sid)[] files, WorkerStats st, int seed,
        long windowStart, long windowEnd, CancellationToken ct)
    {
        var rng = new Random(seed);
        uint count = (uint)Math.Min(options.FileSize, 4096);
        while (!ct.IsCancellationRequested)
        {
            var (fh, sid) = files[rng.Next(files.Length)];
            long start = time.GetTimestamp();
            try
            {
                using var read = new CompoundBuilder().PutFh(fh).Read(sid, 0, count);
                var reply = await session.CompoundAsync(read, CancellationToken.None);
                st.Compounds++;
                if (!reply.IsOk)
                {
                    st.Error($"READ compound: {reply.Status} at {reply.Failed?.Op}");
                    continue;
                }
                if (reply.Get<ReadResult>().Data.Length != count)
                {
                    st.Error("short READ");
                    continue;
                }
            }
            catch (Exception ex) when (ex is IOException or TimeoutException or RpcException)
            {
                st.Error(ex.GetType().Name);
                if (session.Rpc.State != RpcClientState.Open)
                    return;
                continue;
            }
            long end = time.GetTimestamp();
            if (start >= windowStart && end <= windowEnd)
                st.Latencies.Add(end - start);
        }
    }

    private void Report(string label, List<WorkerStats> stats, TimeSpan cpu)
    {
        var all = stats.SelectMany(s => s.Latencies).ToArray();
        Array.Sort(all);
        double seconds = options.Duration.TotalSeconds;
        double toMicros = 1e6 / time.TimestampFrequency;
        double Pct(double p) => all.Length == 0 ? double.NaN : all[Math.Min(all.Length - 1, (int)Math.Ceiling(p / 100 * all.Length) - 1)] * toMicros;
        double opsPerSec = all.Length / seconds;
        long compounds = stats.Sum(s => s.Compounds);
        long errors = stats.Sum(s => s.Errors);
        string unit = options.Workload == Workload.Meta
            ? "metadata op = OPEN+GETFH+GETATTR compound, then CLOSE compound (2 round trips)"
            : $"read op = one READ compound of {Math.Min(options.FileSize, 4096)} B";
        var ci = CultureInfo.InvariantCulture;
        output.WriteLine(string.Create(ci, $"""

            op definition : {unit}
            ops completed : {all.Length} in the {seconds:0.#} s window
            throughput    : {opsPerSec:0} ops/s ({compounds / (options.Warmup + options.Duration).TotalSeconds:0} compounds/s over warmup+window)
            latency (us)  : p50 {Pct(50):0}  p90 {Pct(90):0}  p99 {Pct(99):0}  p99.9 {Pct(99.9):0}  max {(all.Length == 0 ? 0 : all[^1] * toMicros):0}  mean {(all.Length == 0 ? 0 : all.Average() * toMicros):0}
            errors        : {errors}
            loadgen CPU   : {cpu.TotalSeconds:0.0} s ({cpu.TotalSeconds / (options.Warmup + options.Duration).TotalSeconds * 100:0}% of one core)
            """));
        foreach (var kind in stats.SelectMany(s => s.ErrorKinds).GroupBy(k => k.Key))
            output.WriteLine($"  error: {kind.Key} x{kind.Sum(k => k.Value)}");
        output.WriteLine(string.Create(ci,
            $"| {label} | {options.Workload.ToString().ToLowerInvariant()} | {options.Sessions}x{options.Depth} | {opsPerSec:0} | {Pct(50):0} | {Pct(90):0} | {Pct(99):0} | {Pct(99.9):0} | {errors} |"));
    }
}
