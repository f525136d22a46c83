using System.Diagnostics;
using System.Globalization;
using Leasehold.Nfs4.Client;
using Leasehold.Nfs4.Client.Callbacks;

namespace Leasehold.LoadGen;

/// <summary>
/// Recall latency (issue 7, benchmark a). <c>--sessions</c> holder sessions each keep <c>--files-per-session</c> read
/// delegations on files of their own. A writer session (no back channel, so it is never granted one) opens one of those
/// files for write at a time; the clock runs from just before it sends that OPEN to the moment the holder's
/// CB_RECALL handler is entered (both <see cref="Stopwatch.GetTimestamp"/> in this process). The holder answers OK and
/// sends DELEGRETURN; once that is answered the writer retries its OPEN (it must succeed now), closes, and the holder
/// closes its open of the recalled file and opens a fresh one for read, getting a new delegation, so the number
/// outstanding stays at sessions x files-per-session throughout. One recall at a time. With <c>--writer</c> the writer
/// speaks to another node of a cluster over the same tree, so each recall crosses nodes: the writer's node asks the
/// holders' node, through etcd, to give its token back, and that node recalls its client's delegation.
/// </summary>
internal sealed class RecallBench(LoadGenOptions options, TextWriter output)
{
    private sealed class Holder
    {
        public Nfs4Session Session = null!;
        public HeldDelegation[] Slots = [];
        public volatile PendingRecall? Current;
        public int Unexpected;
    }

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        int holders = options.Sessions, per = options.FilesPerSession, total = options.WarmupRecalls + options.Recalls;
        int outstanding = holders * per;
        output.WriteLine($"leasehold-loadgen: recall against {options.Label ?? $"{options.Server!.Host}:{options.Server.Port}"}{options.Path}: {holders} holder sessions x " +
            $"{per} read delegations = {outstanding} outstanding; {options.WarmupRecalls} warm-up + {options.Recalls} measured recalls, one at a time");
        var endpoint = await options.Server!.ResolveAsync(cancellationToken);
        long prep = Stopwatch.GetTimestamp();
        var files = await FileSet.PrepareAsync(endpoint, options.Path, options.Directory, outstanding + total, (int)options.FileSize, cancellationToken);
        output.WriteLine($"prepared {files.Names.Length} files in {options.Path.TrimEnd('/')}/{options.Directory} ({Stopwatch.GetElapsedTime(prep).TotalSeconds:0.0} s)");

        var state = Enumerable.Range(0, holders).Select(_ => new Holder()).ToArray();
        Nfs4Session[] sessions = [];
        Nfs4Session? writer = null;
        try
        {
            sessions = await FileSet.ConnectManyAsync(endpoint, holders, 16, Nfs4SessionOptions.Default, i => new Nfs4SessionOptions
            {
                Slots = 4,
                RenewLease = true,
                CallbackHandler = new RecallHandler((recall, arrived) => OnRecall(state[i], recall, arrived)),
            }, cancellationToken);
            var writerEndpoint = options.Writer is null ? endpoint : await options.Writer.ResolveAsync(cancellationToken);
            if (options.Writer is not null)
                output.WriteLine($"the writer opens through {options.Writer.Host}:{options.Writer.Port} (another node over the same tree)");
            writer = await Nfs4Session.ConnectAsync(writerEndpoint, Leasehold.Nfs4.Client.Rpc.RpcAuth.Root,
                new Nfs4SessionOptions { Slots = 1, BackChannel = false, RenewLease = true }, cancellationToken);
            for (int h = 0; h < holders; h++)
                state[h].Session = sessions[h];

            long grant = Stopwatch.GetTimestamp();
            await Parallel.ForAsync(0, holders, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken }, async (h, ct) =>
            {
                var slots = new HeldDelegation[per];
                for (int j = 0; j < per; j++)
                    slots[j] = await OpenForReadAsync(sessions[h], files, h * per + j, ct);
                state[h].Slots = slots;
            });
            output.WriteLine($"granted {outstanding} read delegations ({Stopwatch.GetElapsedTime(grant).TotalSeconds:0.0} s)");

            var recall = new List<long>(options.Recalls);
            var delayReply = new List<long>(options.Recalls);
            var returnToOpen = new List<long>(options.Recalls);
            var cycle = new List<long>(options.Recalls);
            int extraDelays = 0;
            var cpu = new CpuClock(options.ServerPid);
            var cpuStart = cpu.Now();
            long recallsStart = Stopwatch.GetTimestamp();
            var writerOwner = writer.NewOwner("recall-writer");
            for (int k = 0; k < total; k++)
            {
                var holder = state[k % holders];
                int slot = k / holders % per;
                var held = holder.Slots[slot];
                var pending = new PendingRecall(held);
                holder.Current = pending;

                long sent = Stopwatch.GetTimestamp();
                var first = await writer.OpenAsync(files.Directory, files.Names[held.Index], ShareAccess.Write, owner: writerOwner, cancellationToken: cancellationToken);
                long answered = Stopwatch.GetTimestamp();
                if (first.Status != NfsStat4.Delay)
                    throw new InvalidOperationException($"recall {k}: the conflicting OPEN answered {first.Status}, not NFS4ERR_DELAY: no delegation was recalled");
                var returned = await pending.Returned.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
                if (returned != NfsStat4.Ok)
                    throw new InvalidOperationException($"recall {k}: DELEGRETURN answered {returned}");

                OpenedFile opened;
                while (true)
                {
                    var retry = await writer.OpenAsync(files.Directory, files.Names[held.Index], ShareAccess.Write, owner: writerOwner, cancellationToken: cancellationToken);
                    if (retry.Status == NfsStat4.Ok)
                    {
                        opened = retry.Value!;
                        break;
                    }
                    if (retry.Status != NfsStat4.Delay)
                        throw new InvalidOperationException($"recall {k}: the retried OPEN answered {retry.Status}");
                    extraDelays++;
                    await Task.Delay(1, cancellationToken);
                }
                long ok = Stopwatch.GetTimestamp();
                (await writer.CloseAsync(opened.FileHandle, opened.StateId, cancellationToken)).ValueOrThrow();

                // The holder gives up its open of the recalled file and takes a delegation on a fresh one.
                (await holder.Session.CloseAsync(held.File, held.Open, cancellationToken)).ValueOrThrow();
                holder.Slots[slot] = await OpenForReadAsync(holder.Session, files, outstanding + k, cancellationToken);
                holder.Current = null;

                if (k >= options.WarmupRecalls)
                {
                    recall.Add(pending.Arrived - sent);
                    delayReply.Add(answered - sent);
                    returnToOpen.Add(ok - pending.ReturnDone);
                    cycle.Add(ok - sent);
                }
            }

            string cpuUsed = cpu.Since(cpuStart);
            double recallsSeconds = Stopwatch.GetElapsedTime(recallsStart).TotalSeconds;
            var r = new Latencies(recall);
            var ci = CultureInfo.InvariantCulture;
            output.WriteLine();
            output.WriteLine($"outstanding read delegations during every recall: {outstanding} ({holders} sessions x {per})");
            output.WriteLine($"OPEN sent -> CB_RECALL at the holder (us)   : {r.Line()}");
            output.WriteLine($"OPEN sent -> NFS4ERR_DELAY reply (us)        : {new Latencies(delayReply).Line()}");
            output.WriteLine($"DELEGRETURN answered -> retried OPEN OK (us) : {new Latencies(returnToOpen).Line()}");
            output.WriteLine($"first OPEN sent -> retried OPEN OK (us)      : {new Latencies(cycle).Line()}");
            output.WriteLine(string.Create(ci, $"recall loop: {recallsSeconds:0.0} s wall, {cpuUsed}; GCs in the load generator since it started: gen0 {GC.CollectionCount(0)}, gen1 {GC.CollectionCount(1)}, gen2 {GC.CollectionCount(2)}"));
            output.WriteLine(string.Create(ci, $"recalls over 1 ms: {recall.Count(t => t > Stopwatch.Frequency / 1000)} of {recall.Count}; p95 {r.Percentile(95):0}  p98 {r.Percentile(98):0}  p99.5 {r.Percentile(99.5):0} us"));
            output.WriteLine($"retried OPENs answered DELAY again: {extraDelays}; recalls of a delegation not being recalled: {state.Sum(s => s.Unexpected)}");
            output.WriteLine(string.Create(ci, $"| recall | {holders} x {per} = {outstanding} | {r.Count} | {r.Percentile(50):0} | {r.Percentile(90):0} | {r.Percentile(99):0} | {r.Max:0} |"));

            // Give everything back, so the server is left as found (a real client does this at unmount).
            await Parallel.ForAsync(0, holders, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken }, async (h, ct) =>
            {
                foreach (var held in state[h].Slots)
                {
                    await sessions[h].DelegReturnAsync(held.File, held.Delegation, ct);
                    await sessions[h].CloseAsync(held.File, held.Open, ct);
                }
            });
            return state.Sum(s => s.Unexpected) == 0 ? 0 : 3;
        }
        finally
        {
            await FileSet.DisposeAllAsync([.. sessions, writer]);
        }
    }

    private static async Task<HeldDelegation> OpenForReadAsync(Nfs4Session session, FileSet files, int index, CancellationToken ct)
    {
        var o = (await session.OpenAsync(files.Directory, files.Names[index], ShareAccess.Read, cancellationToken: ct)).ValueOrThrow();
        if (o.Delegation.Type != DelegationType.Read)
            throw new InvalidOperationException($"OPEN for read of {files.Names[index]} got no read delegation (type {o.Delegation.Type}, why {o.Delegation.WhyNone}): " +
                "are delegations on, and was the file recalled less than the recall window (30 s) ago?");
        return new HeldDelegation(index, o.FileHandle, o.StateId, o.Delegation.StateId);
    }

    /// <summary>The holder's CB_RECALL: see <see cref="PendingRecall.Answer"/>; one it did not expect is counted.</summary>
    private static void OnRecall(Holder holder, CbRecallEvent recall, long arrived)
    {
        if (!PendingRecall.Answer(holder.Current, holder.Session, recall, arrived))
            Interlocked.Increment(ref holder.Unexpected);
    }
}
