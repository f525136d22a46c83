using System.Diagnostics;
using System.Globalization;
using Leasehold.Nfs4.Client;
using Leasehold.Nfs4.Client.Callbacks;
using Microsoft.Win32.SafeHandles;

namespace Leasehold.LoadGen;

/// <summary>
/// What a local process pays to open a delegated file for write (issue 9's benchmark). The server must run on this
/// machine with its local-access guard (as root; it logs "Local access is guarded by ..."), and <c>--export</c> names
/// the local directory that is <c>--path</c> over NFS. Each try, one of <c>--sessions</c> holder sessions opens file i
/// for read and is granted a read delegation (the server takes a kernel read lease for it); then this process, which
/// is not the server and so a local process to it, opens <c>EXPORT/DIR/file_i</c> for write with
/// <see cref="File.OpenHandle"/> (openat O_WRONLY|O_CLOEXEC, then the runtime's fstatfs and flock LOCK_SH). The open waits in
/// the kernel while the server recalls; the holder answers CB_RECALL and sends DELEGRETURN at once, and the server
/// releases the lease before it answers the DELEGRETURN. The same open of a file nobody delegated, right after each
/// try, is the baseline. A fresh file per try: the engine refuses a new delegation on a file recalled within its
/// recall window (30 s), so running this again within 30 s gets none on the same files.
/// </summary>
internal sealed class LocalOpenBench(LoadGenOptions options, TextWriter output)
{
    private sealed class Holder
    {
        public Nfs4Session Session = null!;
        public volatile PendingRecall? Current;
        public int Unexpected;
    }

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        int holders = options.Sessions, total = options.WarmupRecalls + options.Recalls;
        string localDir = Path.Combine(options.Export!, options.Directory);
        output.WriteLine($"leasehold-loadgen: local-open against {options.Label ?? $"{options.Server!.Host}:{options.Server.Port}"}{options.Path} " +
            $"(on this machine: {options.Export}): {holders} holder sessions; {options.WarmupRecalls} warm-up + {options.Recalls} measured local opens " +
            "for write of a read-delegated file, each followed by one of a file with no delegation");
        // The local open blocks its pool thread for the whole recall; the CB_RECALL and the DELEGRETURN need others.
        ThreadPool.GetMinThreads(out int workers, out int io);
        ThreadPool.SetMinThreads(Math.Max(workers, 16), io);

        var endpoint = await options.Server!.ResolveAsync(cancellationToken);
        long prep = Stopwatch.GetTimestamp();
        // f-00000.. are delegated (one per try), f-{total}.. are the baseline's (never delegated).
        var files = await FileSet.PrepareAsync(endpoint, options.Path, options.Directory, 2 * total, (int)options.FileSize, cancellationToken);
        output.WriteLine($"prepared {files.Names.Length} files in {options.Path.TrimEnd('/')}/{options.Directory} ({Stopwatch.GetElapsedTime(prep).TotalSeconds:0.0} s)");
        string probe = Path.Combine(localDir, files.Names[^1]);
        if (!File.Exists(probe))
            throw new InvalidOperationException($"{probe} does not exist: --export must be the directory that is {options.Path} over NFS, on this machine");

        var state = Enumerable.Range(0, holders).Select(_ => new Holder()).ToArray();
        Nfs4Session[] sessions = [];
        try
        {
            sessions = await FileSet.ConnectManyAsync(endpoint, holders, 16, Nfs4SessionOptions.Default, i => new Nfs4SessionOptions
            {
                Slots = 2,
                RenewLease = true,
                CallbackHandler = new RecallHandler((recall, arrived) => OnRecall(state[i], recall, arrived)),
            }, cancellationToken);
            for (int h = 0; h < holders; h++)
                state[h].Session = sessions[h];

            var delegated = new List<long>(options.Recalls);
            var toRecall = new List<long>(options.Recalls);
            var recallToReturn = new List<long>(options.Recalls);
            var returnAnswered = new List<long>(options.Recalls);
            var baseline = new List<long>(options.Recalls);
            var undelegated = new List<long>();
            var why = new Dictionary<string, int>(StringComparer.Ordinal);
            int noDelegation = 0, warmupNoDelegation = 0;
            var cpu = new CpuClock(options.ServerPid);
            var cpuStart = cpu.Now();
            long loopStart = Stopwatch.GetTimestamp();
            for (int k = 0; k < total; k++)
            {
                bool measured = k >= options.WarmupRecalls;
                var holder = state[k % holders];
                var o = (await holder.Session.OpenAsync(files.Directory, files.Names[k], ShareAccess.Read, cancellationToken: cancellationToken)).ValueOrThrow();
                PendingRecall? pending = null;
                if (o.Delegation.Type == DelegationType.Read)
                {
                    pending = new PendingRecall(new HeldDelegation(k, o.FileHandle, o.StateId, o.Delegation.StateId));
                    holder.Current = pending;
                }
                else
                {
                    if (measured)
                        noDelegation++;
                    else
                        warmupNoDelegation++;
                    string reason = $"type {o.Delegation.Type}, why {o.Delegation.WhyNone}";
                    why[reason] = why.GetValueOrDefault(reason) + 1;
                }

                long opened = TimeLocalOpen(Path.Combine(localDir, files.Names[k]), out long called, out long returned);
                if (pending is not null)
                {
                    var status = await pending.Returned.Task.WaitAsync(TimeSpan.FromSeconds(60), cancellationToken);
                    if (status != NfsStat4.Ok)
                        throw new InvalidOperationException($"try {k}: DELEGRETURN answered {status}");
                    holder.Current = null;
                }
                (await holder.Session.CloseAsync(o.FileHandle, o.StateId, cancellationToken)).ValueOrThrow();

                long plain = TimeLocalOpen(Path.Combine(localDir, files.Names[total + k]), out _, out _);
                if (!measured)
                    continue;
                baseline.Add(plain);
                if (pending is null)
                {
                    undelegated.Add(opened);
                    continue;
                }
                delegated.Add(opened);
                toRecall.Add(pending.Arrived - called);
                recallToReturn.Add(returned - pending.Arrived);
                returnAnswered.Add(pending.ReturnDone - returned);
            }

            string cpuUsed = cpu.Since(cpuStart);
            double loopSeconds = Stopwatch.GetElapsedTime(loopStart).TotalSeconds;
            var d = new Latencies(delegated);
            var b = new Latencies(baseline);
            var ci = CultureInfo.InvariantCulture;
            output.WriteLine();
            output.WriteLine($"local open(O_WRONLY) of a read-delegated file, call -> return (us) : {d.Line()}");
            output.WriteLine($"  open() called -> CB_RECALL at the holder (us)                 : {new Latencies(toRecall).Line()}");
            output.WriteLine($"  CB_RECALL at the holder -> open() returned (us)               : {new Latencies(recallToReturn).Line()}");
            output.WriteLine($"  open() returned -> DELEGRETURN reply at the holder (us)       : {new Latencies(returnAnswered).Line()}");
            output.WriteLine($"local open(O_WRONLY) of a file with no delegation (baseline) (us) : {b.Line()}");
            if (undelegated.Count > 0)
                output.WriteLine($"local open(O_WRONLY) of tries granted no delegation (us)          : {new Latencies(undelegated).Line()}");
            string reasons = why.Count > 0 ? ": " + string.Join("; ", why.Select(w => $"{w.Value} x {w.Key}")) : "";
            output.WriteLine($"tries granted no delegation: {noDelegation} of {options.Recalls} measured ({warmupNoDelegation} of {options.WarmupRecalls} warm-up){reasons}");
            if (noDelegation + warmupNoDelegation > 0)
                output.WriteLine("  (no delegation: is the server guarding local access (root, log 2010), and were these files recalled less than 30 s ago?)");
            output.WriteLine(string.Create(ci, $"delegated opens over 5 ms: {delegated.Count(t => t > Stopwatch.Frequency / 200)} of {delegated.Count}; " +
                $"recalls of a delegation not being recalled: {state.Sum(s => s.Unexpected)}"));
            output.WriteLine(string.Create(ci, $"loop: {loopSeconds:0.0} s wall, {cpuUsed}; GCs in the load generator since it started: gen0 {GC.CollectionCount(0)}, gen1 {GC.CollectionCount(1)}, gen2 {GC.CollectionCount(2)}"));
            output.WriteLine(string.Create(ci, $"| local-open | {holders} | {d.Count} | {d.Percentile(50):0} | {d.Percentile(90):0} | {d.Percentile(99):0} | {d.Max:0} | {noDelegation} | " +
                $"{b.Percentile(50):0} / {b.Percentile(90):0} / {b.Percentile(99):0} / {b.Max:0} |"));
            return noDelegation == 0 && state.Sum(s => s.Unexpected) == 0 ? 0 : 3;
        }
        finally
        {
            await FileSet.DisposeAllAsync(sessions);
        }
    }

    /// <summary>Opens <paramref name="path"/> for write and closes it; the open's duration in Stopwatch ticks, and when it was called and returned.</summary>
    private static long TimeLocalOpen(string path, out long called, out long returned)
    {
        called = Stopwatch.GetTimestamp();
        SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
        returned = Stopwatch.GetTimestamp();
        handle.Dispose();
        return returned - called;
    }

    /// <summary>The holder's CB_RECALL: see <see cref="PendingRecall.Answer"/>; one it did not expect is counted.</summary>
    private static void OnRecall(Holder holder, CbRecallEvent recall, long arrived)
    {
        if (!PendingRecall.Answer(holder.Current, holder.Session, recall, arrived))
            Interlocked.Increment(ref holder.Unexpected);
    }
}
