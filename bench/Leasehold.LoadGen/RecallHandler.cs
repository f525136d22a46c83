using System.Diagnostics;
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
