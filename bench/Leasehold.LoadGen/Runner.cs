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

    /// <summary>seqwrite: COMMITs sent and answered inside the window.</summary>
    public long Commits;

    /// <summary>meta: OPENs answered with a delegation (a server that grants them does so at a client's first OPEN of a file).</summary>
    public long Delegations;
    public ConcurrentDictionary<string, long> ErrorKinds { get; } = new(StringComparer.Ordinal);

    public void Error(string kind)
    {
        Errors++;
        ErrorKinds.AddOrUpdate(kind, 1, (_, n) => n + 1);
    }
}

/// <summary>
/// One run's numbers, for a comparison of several servers: latencies in microseconds; the server's CPU per COMPOUND in
/// microseconds when its pid is known; MiB/s (2^20 bytes a second) of data READ or written for seqread/seqwrite.
/// </summary>
internal sealed record RunSummary(string Label, double OpsPerSecond, double P50, double P99, double P999, double? ServerCpuPerCompound, long Errors,
    double? MiBPerSecond = null);

/// <summary>
/// Prepares the files, opens the sessions, runs warmup then the measured window, and reports.
/// One "op" is one unit of client work as defined in docs/loadgen.md:
///   meta: COMPOUND{SEQUENCE PUTFH(dir) OPEN(name, READ, nocreate) GETFH GETATTR} then COMPOUND{SEQUENCE PUTFH CLOSE}
///         = 1 op (2 compounds, 2 round trips); latency is the pair's;
///   read: COMPOUND{SEQUENCE PUTFH READ(4 KiB at 0)} on a file the session opened beforehand = 1 op;
///   seqread, seqwrite: one READ or WRITE of --io-size, see <see cref="SequentialIo"/>.
/// </summary>
internal sealed class Runner(LoadGenOptions options, Nfs4Endpoint server, string path, string label, TimeProvider time, TextWriter output, int? serverPid = null)
{
    private static readonly AttrBitmap MetaAttrs = AttrBitmap.Of(FileAttr.Type, FileAttr.Change, FileAttr.Size, FileAttr.FileId,
        FileAttr.Mode, FileAttr.NumLinks, FileAttr.Owner, FileAttr.OwnerGroup, FileAttr.TimeModify);

    private string[] _names = [];
    private FileHandle _dir = new([]);
    private SequentialIo? _seq;

    public async Task<int> RunAsync(CancellationToken cancellationToken) => (await MeasureAsync(cancellationToken)).Errors == 0 ? 0 : 3;

    public async Task<RunSummary> MeasureAsync(CancellationToken cancellationToken)
    {
        bool sequential = options.Workload.IsSequential();
        int fileCount = sequential ? options.Sessions : options.Files;
        output.WriteLine($"leasehold-loadgen: {options.Workload.Name()} against {label}{path}, " +
            $"{options.Sessions} sessions x depth {options.Depth}, {fileCount} files of {options.FileSize} B, " +
            (sequential ? $"{options.IoSize} B per {(options.Workload == Workload.SeqRead ? "READ" : "WRITE")}, " : "") +
            $"warmup {options.Warmup.TotalSeconds:0.#} s, window {options.Duration.TotalSeconds:0.#} s");
        var endpoint = await server.ResolveAsync(cancellationToken);

        var prepStart = time.GetTimestamp();
        if (sequential)
        {
            _seq = await SequentialIo.PrepareAsync(options, endpoint, path, time, output, cancellationToken);
        }
        else
        {
            var fileSet = await FileSet.PrepareAsync(endpoint, path, options.Directory, options.Files, (int)options.FileSize, cancellationToken);
            (_dir, _names) = (fileSet.Directory, fileSet.Names);
        }
        output.WriteLine($"prepared {fileCount} files in {path.TrimEnd('/')}/{options.Directory} ({time.GetElapsedTime(prepStart).TotalSeconds:0.0} s)");

        var sessionOptions = sequential ? SequentialIo.SessionOptions(options) : new Nfs4SessionOptions { Slots = (uint)options.Depth };
        var sessions = new Nfs4Session[options.Sessions];
        // Delegations the meta and read workloads were granted, per session: returned before the sessions leave, so the
        // clients can be destroyed (DESTROY_CLIENTID refuses a client that holds state) and the next run starts clean.
        _delegations = new System.Collections.Concurrent.ConcurrentBag<(FileHandle, StateId)>[options.Sessions];
        for (int i = 0; i < _delegations.Length; i++)
            _delegations[i] = [];
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
                        if (o.Delegation.Type != DelegationType.None)
                            _delegations[s].Add((o.FileHandle, o.Delegation.StateId));
                    }
                    opened[s] = files;
                });
            }
            if (_seq is not null)
                await _seq.OpenAsync(sessions, TimeSpan.FromMinutes(2), output, cancellationToken);

            long warmupStart = time.GetTimestamp();
            long windowStart = warmupStart + (long)(options.Warmup.TotalSeconds * time.TimestampFrequency);
            long windowEnd = windowStart + (long)(options.Duration.TotalSeconds * time.TimestampFrequency);
            // Workers stop issuing at the window's end; the run as a whole is bounded by this token too.
            using var stop = new CancellationTokenSource(options.Warmup + options.Duration, time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(stop.Token, cancellationToken);
            var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
            var serverCpu = new CpuClock(serverPid);
            var serverBefore = serverCpu.Now().Server;

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
                    int seed = s * 1000 + d, index = s;
                    workers.Add(Task.Run(() => options.Workload switch
                    {
                        Workload.Meta => MetaLoopAsync(session, index, st, seed, windowStart, windowEnd, linked.Token),
                        Workload.Read => ReadLoopAsync(session, files, st, seed, windowStart, windowEnd, linked.Token),
                        _ => _seq!.LoopAsync(index, st, windowStart, windowEnd, linked.Token),
                    }, CancellationToken.None));
                }
            }
            await Task.WhenAll(workers);
            var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
            var serverUsed = serverCpu.Now().Server - serverBefore;
            if (_seq is not null)
            {
                // Its errors count with the run's (the table row stays the last line).
                var finish = new WorkerStats();
                stats.Add(finish);
                await _seq.FinishAsync(finish, output, cancellationToken);
            }
            var summary = Report(stats, cpu, serverUsed);

            if (options.Workload == Workload.Read)
            {
                for (int s = 0; s < sessions.Length; s++)
                    foreach (var (fh, sid) in opened[s] ?? [])
                        await sessions[s].CloseAsync(fh, sid, cancellationToken);
            }
            await Parallel.ForAsync(0, sessions.Length, cancellationToken, async (s, ct) =>
            {
                foreach (var (fh, delegation) in _delegations[s])
                    await sessions[s].DelegReturnAsync(fh, delegation, ct);
            });
            return summary;
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

    private System.Collections.Concurrent.ConcurrentBag<(FileHandle, StateId)>[] _delegations = [];

    private Task MetaLoopAsync(Nfs4Session session, int index, WorkerStats st, int seed, long windowStart, long windowEnd, CancellationToken ct)
    {
        var rng = new Random(seed);
        var owner = session.NewOwner("loadgen-meta"); // one per lane: opens on one lane never share a stateid with another's
        return ClosedLoopAsync(session, st, time, windowStart, windowEnd, async () =>
        {
            string name = _names[rng.Next(_names.Length)];
            using var open = new CompoundBuilder().PutFh(_dir).Open(name, ShareAccess.Read, owner).GetFh().GetAttr(MetaAttrs);
            var reply = await session.CompoundAsync(open, CancellationToken.None);
            if (!Counted(reply, "OPEN", st))
                return false;
            var o = reply.Get<OpenResult>();
            var fh = reply.Get<GetFhResult>().FileHandle!;
            if (o.Delegation is { Type: not DelegationType.None } granted)
            {
                st.Delegations++;
                _delegations[index].Add((fh, granted.StateId));
            }
            using var close = new CompoundBuilder().PutFh(fh).Close(o.StateId);
            return Counted(await session.CompoundAsync(close, CancellationToken.None), "CLOSE", st);
        }, ct);
    }

    private Task ReadLoopAsync(Nfs4Session session, (FileHandle Fh, StateId Sid)[] files, WorkerStats st, int seed,
        long windowStart, long windowEnd, CancellationToken ct)
    {
        var rng = new Random(seed);
        uint count = (uint)Math.Min(options.FileSize, 4096L);
        return ClosedLoopAsync(session, st, time, windowStart, windowEnd, () =>
        {
            var (fh, sid) = files[rng.Next(files.Length)];
            return ReadAsync(session, fh, sid, 0, count, st);
        }, ct);
    }

    /// <summary>
    /// One closed loop: runs <paramref name="op"/> until <paramref name="ct"/> is cancelled, and keeps the latency
    /// (timestamp ticks) of each op that succeeded and both started and ended inside the window. The op returns false
    /// when it failed (having counted the error); a transport failure is counted here, and ends the loop once the
    /// session's connection is gone.
    /// </summary>
    internal static async Task ClosedLoopAsync(Nfs4Session session, WorkerStats st, TimeProvider time, long windowStart, long windowEnd,
        Func<Task<bool>> op, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            long start = time.GetTimestamp();
            try
            {
                if (!await op())
                    continue;
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

    /// <summary>Counts a compound sent; false (and an error "WHAT compound: STATUS at OP") unless it succeeded.</summary>
    internal static bool Counted(CompoundReply reply, string what, WorkerStats st)
    {
        st.Compounds++;
        if (reply.IsOk)
            return true;
        st.Error($"{what} compound: {reply.Status} at {reply.Failed?.Op}");
        return false;
    }

    /// <summary>COMPOUND{SEQUENCE PUTFH READ}; false (an error counted) unless it returned all <paramref name="count"/> bytes.</summary>
    internal static async Task<bool> ReadAsync(Nfs4Session session, FileHandle fh, StateId sid, ulong offset, uint count, WorkerStats st)
    {
        using var read = new CompoundBuilder().PutFh(fh).Read(sid, offset, count);
        var reply = await session.CompoundAsync(read, CancellationToken.None);
        if (!Counted(reply, "READ", st))
            return false;
        if (reply.Get<ReadResult>().Data.Length == count)
            return true;
        st.Error("short READ");
        return false;
    }

    private RunSummary Report(List<WorkerStats> stats, TimeSpan cpu, TimeSpan? serverCpu)
    {
        var all = stats.SelectMany(s => s.Latencies).ToArray();
        Array.Sort(all);
        double seconds = options.Duration.TotalSeconds;
        double toMicros = 1e6 / time.TimestampFrequency;
        double Pct(double p) => all.Length == 0 ? double.NaN : all[Math.Min(all.Length - 1, (int)Math.Ceiling(p / 100 * all.Length) - 1)] * toMicros;
        double opsPerSec = all.Length / seconds;
        long compounds = stats.Sum(s => s.Compounds);
        long errors = stats.Sum(s => s.Errors);
        double? serverPerCompound = serverCpu is { } used && compounds > 0 ? used.TotalMicroseconds / compounds : null;
        string unit = options.Workload switch
        {
            Workload.Meta => "metadata op = OPEN+GETFH+GETATTR compound, then CLOSE compound (2 round trips)",
            Workload.Read => $"read op = one READ compound of {Math.Min(options.FileSize, 4096)} B",
            Workload.SeqRead => $"seqread op = one READ compound of {_seq!.IoSize} B, at increasing offsets in the session's file",
            _ => $"seqwrite op = one WRITE UNSTABLE compound of {_seq!.IoSize} B, at increasing offsets in the session's file; " +
                $"after each {options.CommitEvery} B a session wrote, a COMMIT compound too, counted in that WRITE's latency",
        };
        double? mibPerSec = _seq is null ? null : all.Length * (double)_seq.IoSize / seconds / (1 << 20);
        var ci = CultureInfo.InvariantCulture;
        output.WriteLine(string.Create(ci, $"""

            op definition : {unit}
            ops completed : {all.Length} in the {seconds:0.#} s window
            throughput    : {opsPerSec:0} ops/s{(mibPerSec is { } m ? $" = {m:0.0} MiB/s" : "")} ({compounds / (options.Warmup + options.Duration).TotalSeconds:0} compounds/s over warmup+window)
            latency (us)  : p50 {Pct(50):0}  p90 {Pct(90):0}  p99 {Pct(99):0}  p99.9 {Pct(99.9):0}  max {(all.Length == 0 ? 0 : all[^1] * toMicros):0}  mean {(all.Length == 0 ? 0 : all.Average() * toMicros):0}
            errors        : {errors}{(options.Workload == Workload.Meta ? $"{Environment.NewLine}delegations   : {stats.Sum(s => s.Delegations)} OPENs (warmup included) were granted one" : "")}{(options.Workload == Workload.SeqWrite ? $"{Environment.NewLine}commits       : {stats.Sum(s => s.Commits)} in the window" : "")}
            loadgen CPU   : {cpu.TotalSeconds:0.0} s ({cpu.TotalSeconds / (options.Warmup + options.Duration).TotalSeconds * 100:0}% of one core)
            """));
        if (serverCpu is { } serverUsed)
        {
            output.WriteLine(string.Create(ci,
                $"server CPU    : {serverUsed.TotalSeconds:0.0} s ({serverUsed.TotalSeconds / (options.Warmup + options.Duration).TotalSeconds * 100:0}% of one core), {serverPerCompound:0.0} us per compound"));
        }
        foreach (var kind in stats.SelectMany(s => s.ErrorKinds).GroupBy(k => k.Key))
            output.WriteLine($"  error: {kind.Key} x{kind.Sum(k => k.Value)}");
        output.WriteLine(string.Create(ci,
            $"| {label} | {options.Workload.Name()} | {options.Sessions}x{options.Depth} | {opsPerSec:0}{(mibPerSec is { } mib ? $" ({mib:0.0} MiB/s)" : "")} | {Pct(50):0} | {Pct(90):0} | {Pct(99):0} | {Pct(99.9):0} | {errors} |"));
        return new RunSummary(label, opsPerSec, Pct(50), Pct(99), Pct(99.9), serverPerCompound, errors, mibPerSec);
    }
}
