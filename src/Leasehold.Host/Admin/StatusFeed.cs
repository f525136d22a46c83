using System.Diagnostics.Metrics;

namespace Leasehold.Host.Admin;

/// <summary>
/// What the status page charts, gathered from the layers' meters with a <see cref="MeterListener"/> (the same
/// measurements /metrics exports): RPC calls (COMPOUNDs) per second over the last <see cref="Seconds"/> seconds, and the last
/// <see cref="RecallsKept"/> delegation recalls' round trips (CB_RECALL to DELEGRETURN or revocation).
/// </summary>
internal sealed class StatusFeed : IDisposable
{
    public const int Seconds = 60;
    public const int RecallsKept = 50;

    /// <summary>
    /// The instruments read: calls answered (one event per COMPOUND; listening per operation cost the server about 1 µs a
    /// COMPOUND more, docs/benchmarks.md "Metrics overhead"), and the recall round trip in seconds.
    /// </summary>
    public const string OperationsInstrument = "leasehold.rpc.calls", RecallInstrument = "leasehold.nfs.recall.duration";

    private readonly TimeProvider _time;
    private readonly MeterListener _listener = new();
    private readonly Lock _sync = new();
    private readonly long[] _perSecond = new long[Seconds];
    private long _second; // the Unix second _perSecond[_second % Seconds] counts
    private readonly Queue<RecallPoint> _recalls = new();

    public StatusFeed(TimeProvider time)
    {
        _time = time;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name.StartsWith("Leasehold.", StringComparison.Ordinal) && instrument.Name is OperationsInstrument or RecallInstrument)
                listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, _, _) => CountOperations(value));
        _listener.SetMeasurementEventCallback<int>((instrument, value, _, _) => CountOperations(value));
        _listener.SetMeasurementEventCallback<double>((instrument, value, _, _) =>
        {
            if (instrument.Name == RecallInstrument)
                AddRecall(value);
        });
        _listener.Start();
    }

    /// <summary>Calls per second, oldest first (the last entry is the second under way), and recent recalls, oldest first.</summary>
    public sealed record RatesView(DateTimeOffset Now, IReadOnlyList<long> CallsPerSecond, IReadOnlyList<RecallPoint> Recalls);

    /// <summary>One recall's round trip: when it ended (UTC) and how long it took, in seconds.</summary>
    public sealed record RecallPoint(DateTimeOffset At, double Seconds);

    /// <summary>What /api/rates answers with Admin:Metrics off: nothing measured.</summary>
    public static RatesView Off => new(DateTimeOffset.UtcNow, new long[Seconds], []);

    public RatesView Rates()
    {
        var now = _time.GetUtcNow();
        lock (_sync)
        {
            Advance(now.ToUnixTimeSeconds());
            var rates = new long[Seconds];
            for (int i = 0; i < Seconds; i++)
                rates[i] = Interlocked.Read(ref _perSecond[(_second - Seconds + 1 + i) % Seconds]);
            return new RatesView(now, rates, [.. _recalls]);
        }
    }

    /// <summary>On every operation: one clock read and one atomic add; the lock only when a new second starts.</summary>
    private void CountOperations(long value)
    {
        long second = _time.GetUtcNow().ToUnixTimeSeconds();
        if (second != Volatile.Read(ref _second))
        {
            lock (_sync)
                Advance(second);
        }
        Interlocked.Add(ref _perSecond[second % Seconds], value);
    }

    private void AddRecall(double seconds)
    {
        lock (_sync)
        {
            _recalls.Enqueue(new RecallPoint(_time.GetUtcNow(), seconds));
            while (_recalls.Count > RecallsKept)
                _recalls.Dequeue();
        }
    }

    /// <summary>Moves the window to <paramref name="second"/>, zeroing the seconds it skips. Under <see cref="_sync"/>.</summary>
    private void Advance(long second)
    {
        if (second <= _second)
            return;
        // A count that lands in a slot just as it is zeroed may be lost: a chart's rounding, not a metric (/metrics counts exactly).
        long from = Math.Max(_second + 1, second - Seconds + 1);
        for (long s = from; s <= second; s++)
            _perSecond[s % Seconds] = 0;
        Volatile.Write(ref _second, second);
    }

    public void Dispose() => _listener.Dispose();
}
