using System.Diagnostics;
using Leasehold.Nfs4.Client;
using Leasehold.Nfs4.Client.Callbacks;

namespace Leasehold.LoadGen;

/// <summary>
/// A holder's back-channel handler for the delegation benchmarks: takes the arrival time of each CB_RECALL
/// (<see cref="Stopwatch.GetTimestamp"/>, the clock the writer's send times use) as the first thing it does, passes
/// it on, and answers OK. The DELEGRETURN is the receiver's business, sent after this returns, as a real client does.
/// </summary>
internal sealed class RecallHandler(Action<CbRecallEvent, long> onRecall) : INfs4CallbackHandler
{
    public ValueTask OnNullAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;

    public ValueTask<NfsStat4> OnSequenceAsync(CbSequenceEvent sequence, CancellationToken cancellationToken) => ValueTask.FromResult(NfsStat4.Ok);

    public ValueTask<NfsStat4> OnRecallAsync(CbRecallEvent recall, CancellationToken cancellationToken)
    {
        long arrived = Stopwatch.GetTimestamp();
        onRecall(recall, arrived);
        return ValueTask.FromResult(NfsStat4.Ok);
    }

    public ValueTask<NfsStat4> OnOtherAsync(CbOtherEvent other, CancellationToken cancellationToken) =>
        ValueTask.FromResult(other.Op == CbOpcode.CbRecallAny ? NfsStat4.Ok : NfsStat4.NotSupp);
}

/// <summary>A read delegation a holder session keeps: which file (its index in the benchmark's files), its open and the delegation.</summary>
internal sealed record HeldDelegation(int Index, FileHandle File, StateId Open, StateId Delegation);

/// <summary>
/// One recall in flight, as the recall and local-open benchmarks follow it: what is recalled and the times (Stopwatch
/// ticks) its CB_RECALL arrived, its DELEGRETURN was sent and answered; <see cref="Returned"/> completes with the
/// DELEGRETURN's status.
/// </summary>
internal sealed class PendingRecall(HeldDelegation held)
{
    public HeldDelegation Held { get; } = held;
    public long Arrived;
    public long ReturnSent;
    public long ReturnDone;
    public TaskCompletionSource<NfsStat4> Returned { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// A holder's CB_RECALL: notes the arrival, then sends DELEGRETURN from a pool thread, after the handler has
    /// answered (as a real client does). False when <paramref name="recall"/> is not the one <paramref name="pending"/>
    /// expects (none is pending, or it names another delegation).
    /// </summary>
    public static bool Answer(PendingRecall? pending, Nfs4Session session, CbRecallEvent recall, long arrived)
    {
        if (pending is null || pending.Held.Delegation != recall.StateId)
            return false;
        pending.Arrived = arrived;
        _ = Task.Run(async () =>
        {
            try
            {
                pending.ReturnSent = Stopwatch.GetTimestamp();
                var status = await session.DelegReturnAsync(pending.Held.File, pending.Held.Delegation);
                pending.ReturnDone = Stopwatch.GetTimestamp();
                pending.Returned.TrySetResult(status);
            }
            catch (Exception e)
            {
                pending.Returned.TrySetException(e);
            }
        });
        return true;
    }
}

/// <summary>Percentiles of a set of durations in <see cref="Stopwatch"/> ticks, reported in microseconds.</summary>
internal sealed class Latencies(IEnumerable<long> ticks)
{
    private readonly long[] _sorted = [.. ticks.Order()];

    public int Count => _sorted.Length;

    public double Percentile(double p) =>
        _sorted.Length == 0 ? double.NaN : Micros(_sorted[Math.Clamp((int)Math.Ceiling(p / 100 * _sorted.Length) - 1, 0, _sorted.Length - 1)]);

    public double Max => _sorted.Length == 0 ? double.NaN : Micros(_sorted[^1]);

    public double Min => _sorted.Length == 0 ? double.NaN : Micros(_sorted[0]);

    public double Mean => _sorted.Length == 0 ? double.NaN : Micros((long)_sorted.Average());

    public static double Micros(long ticks) => ticks * 1e6 / Stopwatch.Frequency;

    public string Line() => FormattableString.Invariant(
        $"p50 {Percentile(50):0}  p90 {Percentile(90):0}  p99 {Percentile(99):0}  max {Max:0}  mean {Mean:0}  (n = {Count})");
}
