using System.Diagnostics;
using System.Globalization;
using Leasehold.Nfs4.Client;
using Leasehold.Nfs4.Client.Callbacks;
using Leasehold.Nfs4.Client.Rpc;

namespace Leasehold.LoadGen;

/// <summary>
/// Recall fan-out (issue 7, benchmark b). Each round (after one unreported warm-up round) a writer (no back channel) makes a fresh file, <c>--sessions</c>
/// holder sessions each open it for read and get a read delegation, and the writer opens it for write. Every holder
/// answers its CB_RECALL and sends DELEGRETURN at once; the writer, answered NFS4ERR_DELAY, waits the round's
/// <c>--retry</c> interval and sends the OPEN again until it succeeds, as a client does. Measured per round, all with
/// <see cref="Stopwatch.GetTimestamp"/> in this process: from the writer's first OPEN to the last CB_RECALL arriving,
/// to the last DELEGRETURN sent and answered, and from the last DELEGRETURN sent (and answered) to the writer's OPEN
/// succeeding.
/// </summary>
internal sealed class FanOutBench(LoadGenOptions options, TextWriter output)
{
    private sealed class Holder
    {
        public Nfs4Session Session = null!;
        public FileHandle File = null!;
        public StateId Open;
        public StateId Delegation;
        public long Arrived, ReturnSent, ReturnDone;
        public NfsStat4 ReturnStatus;
        public int Unexpected;
    }

    private sealed record Round(int Number, TimeSpan Retry, double AllRecalls, double LastReturnSent, double LastReturnDone,
        double OpenAfterReturnSent, double OpenAfterReturnDone, double FirstToOk, int Delays);

    private int _returned;
    private TaskCompletionSource _allReturned = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        int n = options.Sessions;
        output.WriteLine($"leasehold-loadgen: fanout against {options.Label ?? $"{options.Server!.Host}:{options.Server.Port}"}{options.Path}: {n} holder sessions, " +
            $"one read delegation each on one file, {options.Rounds} rounds, writer retry after DELAY: {string.Join(", ", options.RetryIntervals.Select(Show))}");
        var endpoint = await options.Server!.ResolveAsync(cancellationToken);
        var holders = Enumerable.Range(0, n).Select(_ => new Holder()).ToArray();
        Nfs4Session[] sessions = [];
        Nfs4Session? writer = null;
        var rounds = new List<Round>();
        try
        {
            writer = await Nfs4Session.ConnectAsync(endpoint, RpcAuth.Root, new Nfs4SessionOptions { Slots = 4, BackChannel = false, RenewLease = true }, cancellationToken);
            var root = (await writer.LookupPathAsync(options.Path, cancellationToken)).ValueOrThrow();
            var found = await writer.LookupAsync(root, options.Directory, cancellationToken);
            var dir = found.IsOk ? found.Value! : (await writer.MkdirAsync(root, options.Directory, new SetAttributes { Mode = 0x1ED }, cancellationToken)).ValueOrThrow();

            long connect = Stopwatch.GetTimestamp();
            sessions = await FileSet.ConnectManyAsync(endpoint, n, 16, Nfs4SessionOptions.Default, i => new Nfs4SessionOptions
            {
                Slots = 2,
                RenewLease = true,
                CallbackHandler = new RecallHandler((recall, arrived) => OnRecall(holders[i], recall, arrived)),
            }, cancellationToken);
            for (int i = 0; i < n; i++)
                holders[i].Session = sessions[i];
            output.WriteLine($"connected {n} holder sessions ({Stopwatch.GetElapsedTime(connect).TotalSeconds:0.0} s)");

            string run = Convert.ToHexString(BitConverter.GetBytes(Environment.TickCount64))[..8];
            var writerOwner = writer.NewOwner("fanout-writer");
            // Round 0 is a warm-up (JIT, pools, 1,000 back channels' first CB_COMPOUND), run at the first interval and not reported.
            for (int r = 0; r <= options.Rounds; r++)
            {
                var retry = options.RetryIntervals[Math.Max(0, r - 1) % options.RetryIntervals.Count];
                string name = $"fanout-{run}-{r}";
                var made = (await writer.CreateAsync(dir, name, new SetAttributes { Mode = 0x1A4 }, cancellationToken: cancellationToken)).ValueOrThrow();
                (await writer.CloseAsync(made.FileHandle, made.StateId, cancellationToken)).ValueOrThrow();

                _returned = 0;
                _allReturned = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                await Parallel.ForAsync(0, n, new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = cancellationToken }, async (i, ct) =>
                {
                    var h = holders[i];
                    var o = (await h.Session.OpenAsync(dir, name, ShareAccess.Read, cancellationToken: ct)).ValueOrThrow();
                    if (o.Delegation.Type != DelegationType.Read)
                        throw new InvalidOperationException($"holder {i} got no read delegation (type {o.Delegation.Type}, why {o.Delegation.WhyNone})");
                    (h.File, h.Open, h.Delegation, h.Arrived, h.ReturnSent, h.ReturnDone) = (o.FileHandle, o.StateId, o.Delegation.StateId, 0, 0, 0);
                });

                // Let the pool settle after 1,000 opens, so the round starts from a quiet machine.
                await Task.Delay(200, cancellationToken);
                var cpu = new CpuClock(options.ServerPid);
                var cpuStart = cpu.Now();
                long sent = Stopwatch.GetTimestamp();
                int delays = 0;
                OpenedFile opened;
                while (true)
                {
                    var o = await writer.OpenAsync(dir, name, ShareAccess.Write, owner: writerOwner, cancellationToken: cancellationToken);
                    if (o.Status == NfsStat4.Ok)
                    {
                        opened = o.Value!;
                        break;
                    }
                    if (o.Status != NfsStat4.Delay)
                        throw new InvalidOperationException($"round {r}: the writer's OPEN answered {o.Status}");
                    if (++delays > 100_000)
                        throw new InvalidOperationException($"round {r}: the writer's OPEN still answered DELAY after {delays} tries");
                    if (retry > TimeSpan.Zero)
                        await Task.Delay(retry, cancellationToken);
                }
                long ok = Stopwatch.GetTimestamp();
                await _allReturned.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
                string cpuUsed = cpu.Since(cpuStart);
                if (holders.FirstOrDefault(h => h.ReturnStatus != NfsStat4.Ok) is { } bad)
                    throw new InvalidOperationException($"round {r}: a DELEGRETURN answered {bad.ReturnStatus}");

                long lastArrived = holders.Max(h => h.Arrived), lastSent = holders.Max(h => h.ReturnSent), lastDone = holders.Max(h => h.ReturnDone);
                double Ms(long from, long to) => (to - from) * 1000.0 / Stopwatch.Frequency;
                var round = new Round(r, retry, Ms(sent, lastArrived), Ms(sent, lastSent), Ms(sent, lastDone), Ms(lastSent, ok), Ms(lastDone, ok), Ms(sent, ok), delays);
                if (r > 0)
                    rounds.Add(round);
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{(r == 0 ? "warm-up " : "round ")}{round.Number,2} (retry {Show(retry)}): all {n} CB_RECALLs arrived {round.AllRecalls:0.00} ms, last DELEGRETURN sent {round.LastReturnSent:0.00} ms / answered {round.LastReturnDone:0.00} ms, " +
                    $"writer OPEN OK {round.FirstToOk:0.00} ms after its first OPEN = {round.OpenAfterReturnSent:0.00} ms after the last DELEGRETURN was sent ({round.OpenAfterReturnDone:0.00} ms after it was answered), {delays} DELAY answers; {cpuUsed}"));

                (await writer.CloseAsync(opened.FileHandle, opened.StateId, cancellationToken)).ValueOrThrow();
                await Parallel.ForAsync(0, n, new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = cancellationToken },
                    async (i, ct) => (await holders[i].Session.CloseAsync(holders[i].File, holders[i].Open, ct)).ValueOrThrow());
            }
            // Removed only now: a file made after one is removed may get its inode, and with it the recall window
            // (no delegations for 30 s after a recall) of the removed file.
            for (int r = 0; r <= options.Rounds; r++)
                await writer.RemoveAsync(dir, $"fanout-{run}-{r}", cancellationToken);
        }
        finally
        {
            await FileSet.DisposeAllAsync([.. sessions, writer]);
        }

        var ci = CultureInfo.InvariantCulture;
        output.WriteLine();
        output.WriteLine("| writer retry after DELAY | rounds | all CB_RECALLs arrived (ms), median / max | last DELEGRETURN sent (ms) | writer OPEN OK after last DELEGRETURN sent (ms), median / max | after it was answered (ms), median / max | DELAY answers, median |");
        output.WriteLine("|---|---|---|---|---|---|---|");
        foreach (var group in rounds.GroupBy(r => r.Retry))
        {
            var g = group.ToList();
            output.WriteLine(string.Create(ci,
                $"| {Show(group.Key)} | {g.Count} | {Median(g.Select(r => r.AllRecalls)):0.0} / {g.Max(r => r.AllRecalls):0.0} | {Median(g.Select(r => r.LastReturnSent)):0.0} | " +
                $"{Median(g.Select(r => r.OpenAfterReturnSent)):0.0} / {g.Max(r => r.OpenAfterReturnSent):0.0} | {Median(g.Select(r => r.OpenAfterReturnDone)):0.0} / {g.Max(r => r.OpenAfterReturnDone):0.0} | " +
                $"{Median(g.Select(r => (double)r.Delays)):0} |"));
        }
        return holders.Sum(h => h.Unexpected) == 0 ? 0 : 3;
    }

    private static string Show(TimeSpan t) => t == TimeSpan.Zero ? "0 (at once)" : FormattableString.Invariant($"{t.TotalMilliseconds:0.#} ms");

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private void OnRecall(Holder holder, CbRecallEvent recall, long arrived)
    {
        if (recall.StateId != holder.Delegation || holder.Arrived != 0)
        {
            Interlocked.Increment(ref holder.Unexpected);
            return;
        }
        holder.Arrived = arrived;
        _ = Task.Run(async () =>
        {
            holder.ReturnSent = Stopwatch.GetTimestamp();
            try
            {
                holder.ReturnStatus = await holder.Session.DelegReturnAsync(holder.File, holder.Delegation);
            }
            catch (Exception e) when (e is IOException or TimeoutException or RpcException)
            {
                holder.ReturnStatus = NfsStat4.ServerFault;
            }
            holder.ReturnDone = Stopwatch.GetTimestamp();
            if (Interlocked.Increment(ref _returned) == options.Sessions)
                _allReturned.TrySetResult();
        });
    }
}
