using System.Diagnostics.Metrics;
using Leasehold.Metrics;

namespace Leasehold.Nfs4;

/// <summary>
/// A <see cref="Histogram{T}"/> fed in batches: <see cref="Record"/> keeps the value in a buffer of the calling
/// processor's stripe, and the buffer's values reach the histogram (and so every listener) when it fills, on
/// <see cref="Flush"/> (before each scrape of /metrics, and once a second), or at <see cref="Dispose"/>. Every value is
/// recorded, exactly, at most about a second late.
/// </summary>
/// <remarks>
/// Why: OpenTelemetry aggregates a histogram under a lock per tag set, and every COMPOUND records SEQUENCE's duration,
/// so two cores answering at once fought over it. One record cost 62 ns on one thread and 190 ns of CPU with two
/// contending (docs/benchmarks.md "Metrics overhead"); a stripe's lock is taken by its own processor nearly always, and
/// the batch is recorded by one thread without contention.
/// </remarks>
internal sealed class BatchedHistogram : IDisposable
{
    /// <summary>Values a stripe keeps before the thread that fills it records them.</summary>
    public const int BatchSize = 1024;

    private readonly record struct Entry(int Key, double Value);

    private sealed class Stripe
    {
        public readonly Lock Sync = new();
        public Entry[] Buffer = new Entry[BatchSize];
        public int Count;
        public Entry[]? Spare = new Entry[BatchSize];
    }

    private readonly Histogram<double> _histogram;
    private readonly Func<int, KeyValuePair<string, object?>> _tag;
    private readonly Stripe[] _stripes;
    private readonly ITimer _timer;

    /// <param name="histogram">Where the values go.</param>
    /// <param name="tag">The tag a key stands for (computed when the batch is recorded).</param>
    /// <param name="time">The clock of the once-a-second flush.</param>
    public BatchedHistogram(Histogram<double> histogram, Func<int, KeyValuePair<string, object?>> tag, TimeProvider time)
    {
        _histogram = histogram;
        _tag = tag;
        _stripes = new Stripe[ProcessorStripes.Count];
        for (int i = 0; i < _stripes.Length; i++)
            _stripes[i] = new Stripe();
        _timer = time.CreateTimer(static self => ((BatchedHistogram)self!).Flush(), this, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    /// <summary>Whether anyone listens to the histogram: when not, there is nothing to record.</summary>
    public bool Enabled => _histogram.Enabled;

    /// <summary>One value, tagged with <paramref name="key"/>'s tag.</summary>
    public void Record(int key, double value)
    {
        var stripe = _stripes[ProcessorStripes.Current];
        Entry[] full;
        lock (stripe.Sync)
        {
            stripe.Buffer[stripe.Count++] = new Entry(key, value);
            if (stripe.Count < BatchSize)
                return;
            full = TakeBuffer(stripe);
        }
        Publish(stripe, full, BatchSize);
    }

    /// <summary>Records every value kept so far.</summary>
    public void Flush()
    {
        foreach (var stripe in _stripes)
        {
            Entry[] taken;
            int count;
            lock (stripe.Sync)
            {
                count = stripe.Count;
                if (count == 0)
                    continue;
                taken = TakeBuffer(stripe);
            }
            Publish(stripe, taken, count);
        }
    }

    /// <summary>Swaps in the spare buffer (a new one while the spare is out being recorded). Under the stripe's lock.</summary>
    private static Entry[] TakeBuffer(Stripe stripe)
    {
        var taken = stripe.Buffer;
        stripe.Buffer = stripe.Spare ?? new Entry[BatchSize];
        stripe.Spare = null;
        stripe.Count = 0;
        return taken;
    }

    private void Publish(Stripe stripe, Entry[] entries, int count)
    {
        for (int i = 0; i < count; i++)
            _histogram.Record(entries[i].Value, _tag(entries[i].Key));
        lock (stripe.Sync)
            stripe.Spare ??= entries;
    }

    /// <summary>Stops the timer and records what is left.</summary>
    public void Dispose()
    {
        _timer.Dispose();
        Flush();
    }
}
