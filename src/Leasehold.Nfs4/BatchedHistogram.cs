using System.Diagnostics.Metrics;

namespace Leasehold.Nfs4;

/// <summary>
/// A <see cref="Histogram{T}"/> fed in batches: <see cref="Record"/> keeps the value in a lane of the calling thread's
/// own, and a lane's values reach the histogram (and so every listener) when it fills (recorded by that thread), on
/// <see cref="Flush"/> (before each scrape of /metrics, and once a second), or at <see cref="Dispose"/>. Every value is
/// recorded, exactly, at most about a second late.
/// </summary>
/// <remarks>
/// <para>Why: OpenTelemetry aggregates a histogram under a lock per tag set, and every COMPOUND records SEQUENCE's
/// duration, so two cores answering at once fought over it. One record cost 62 ns on one thread and 190 ns of CPU with
/// two contending (docs/benchmarks.md "Metrics overhead"); batches are recorded by one thread at a time, uncontended.</para>
/// <para>A lane is a ring of <see cref="BatchSize"/> values with one writer, its thread, which takes no lock: it stores
/// the value, then publishes its count (a release write); a drain, under the lane's lock, reads up to that count, then
/// publishes how far it read, which the writer checks before it reuses a slot. A lane whose thread has exited is drained
/// one last time and dropped at the next flush, so threads the pool retires leave nothing behind.</para>
/// </remarks>
internal sealed class BatchedHistogram : IDisposable
{
    /// <summary>Values a lane keeps before its thread records them itself (a power of two).</summary>
    public const int BatchSize = 1024;

    private readonly record struct Entry(int Key, double Value);

    private sealed class Lane(Thread owner)
    {
        public readonly Thread Owner = owner;
        public readonly Entry[] Entries = new Entry[BatchSize];
        public readonly Lock Sync = new(); // drains
        public int Written; // values stored so far; the owner's alone to write
        public int Taken; // values recorded so far; written under Sync
    }

    private readonly Histogram<double> _histogram;
    private readonly Func<int, KeyValuePair<string, object?>> _tag;
    private readonly ThreadLocal<Lane> _lane;
    private readonly Lock _lanesSync = new();
    private readonly List<Lane> _lanes = [];
    private readonly ITimer _timer;

    /// <param name="histogram">Where the values go.</param>
    /// <param name="tag">The tag a key stands for (computed when the batch is recorded).</param>
    /// <param name="time">The clock of the once-a-second flush.</param>
    public BatchedHistogram(Histogram<double> histogram, Func<int, KeyValuePair<string, object?>> tag, TimeProvider time)
    {
        _histogram = histogram;
        _tag = tag;
        _lane = new ThreadLocal<Lane>(NewLane);
        _timer = time.CreateTimer(static self => ((BatchedHistogram)self!).Flush(), this, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    /// <summary>Whether anyone listens to the histogram: when not, there is nothing to record.</summary>
    public bool Enabled => _histogram.Enabled;

    /// <summary>Lanes kept now (one per thread that recorded and has not been found gone), for tests.</summary>
    internal int LaneCount
    {
        get
        {
            lock (_lanesSync)
                return _lanes.Count;
        }
    }

    /// <summary>One value, tagged with <paramref name="key"/>'s tag.</summary>
    public void Record(int key, double value)
    {
        Lane lane = _lane.Value!;
        int written = lane.Written;
        if (written - Volatile.Read(ref lane.Taken) == BatchSize)
            Drain(lane); // full: its thread records the batch
        lane.Entries[written & (BatchSize - 1)] = new Entry(key, value);
        Volatile.Write(ref lane.Written, unchecked(written + 1)); // counts wrap; differences and slots stay right
    }

    /// <summary>Records every value kept so far, and drops the lanes of threads that have exited.</summary>
    public void Flush()
    {
        Lane[] lanes;
        lock (_lanesSync)
            lanes = [.. _lanes];
        foreach (var lane in lanes)
        {
            bool gone = !lane.Owner.IsAlive; // asked first: a thread seen gone stores nothing after the drain below
            Drain(lane);
            if (gone)
            {
                lock (_lanesSync)
                    _lanes.Remove(lane);
            }
        }
    }

    private Lane NewLane()
    {
        var lane = new Lane(Thread.CurrentThread);
        lock (_lanesSync)
            _lanes.Add(lane);
        return lane;
    }

    private void Drain(Lane lane)
    {
        lock (lane.Sync)
        {
            int taken = lane.Taken, written = Volatile.Read(ref lane.Written);
            for (; taken != written; taken = unchecked(taken + 1))
            {
                ref readonly Entry entry = ref lane.Entries[taken & (BatchSize - 1)];
                _histogram.Record(entry.Value, _tag(entry.Key));
            }
            Volatile.Write(ref lane.Taken, taken);
        }
    }

    /// <summary>Stops the timer and records what is left. A value recorded later stays in its lane, unrecorded.</summary>
    public void Dispose()
    {
        _timer.Dispose();
        Flush();
    }
}
