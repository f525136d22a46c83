using System.Diagnostics.Metrics;

namespace Leasehold.Host.Admin;

/// <summary>
/// What the status page charts, read from the layers' meters with a <see cref="MeterListener"/> (the same instruments
/// /metrics exports): COMPOUNDs answered per second over the last <see cref="Seconds"/> seconds, sampled once a second
/// from the observable counter leasehold.nfs.compounds (nothing is added to the path of a request), and the last
/// <see cref="RecallsKept"/> delegation recalls' round trips (CB_RECALL to DELEGRETURN or revocation).
/// </summary>
internal sealed class StatusFeed : IDisposable
{
    public const int Seconds = 60;
    public const int RecallsKept = 50;

    /// <summary>The instruments read: COMPOUNDs answered (observable, sampled), and the recall round trip in seconds.</summary>
    public const string CompoundsInstrument = "leasehold.nfs.compounds", RecallInstrument = "leasehold.nfs.recall.duration";

    private readonly TimeProvider _time;
    private readonly MeterListener _listener = new();
    private readonly ITimer _sampler;
    private readonly Lock _sync = new();
    private readonly long[] _perSecond = new long[Seconds];
    private long _second; // the Unix second _perSecond[_second % Seconds] holds
    private long _sampling; // the sum of the observation under way, on the sampler's thread
    private long _lastTotal = -1; // the previous sample's total (-1: none yet)
    private readonly Queue<RecallPoint> _recalls = new();

    public StatusFeed(TimeProvider time)
    {
        _time = time;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name.StartsWith("Leasehold.", StringComparison.Ordinal) && instrument.Name is CompoundsInstrument or RecallInstrument)
                listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
        {
            if (instrument.Name == CompoundsInstrument)
                _sampling += value;
        });
        _listener.SetMeasurementEventCallback<double>((instrument, value, _, _) =>
        {
            if (instrument.Name == RecallInstrument)
                AddRecall(value);
        });
        _listener.Start();
        _sampler = time.CreateTimer(_ => Sample(), null, TimeSpan.Zero, TimeSpan.FromSeconds(1));
    }

    /// <summary>COMPOUNDs per second, oldest first (the last entry is the latest second sampled), and recent recalls, oldest first.</summary>
    public sealed record RatesView(DateTimeOffset Now, IReadOnlyList<long> CompoundsPerSecond, IReadOnlyList<RecallPoint> Recalls);

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
                rates[i] = _perSecond[(_second - Seconds + 1 + i) % Seconds];
            return new RatesView(now, rates, [.. _recalls]);
        }
    }

    /// <summary>Once a second: the COMPOUNDs answered since the previous sample go to the second under way.</summary>
    private void Sample()
    {
        lock (_sync)
        {
            _sampling = 0;
            _listener.RecordObservableInstruments(); // the callback above sums every server's counts into _sampling
            long total = _sampling;
            Advance(_time.GetUtcNow().ToUnixTimeSeconds());
            if (_lastTotal >= 0 && total >= _lastTotal)
                _perSecond[_second % Seconds] += total - _lastTotal;
            _lastTotal = total;
        }
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
        long from = Math.Max(_second + 1, second - Seconds + 1);
        for (long s = from; s <= second; s++)
            _perSecond[s % Seconds] = 0;
        _second = second;
    }

    public void Dispose()
    {
        _sampler.Dispose();
        lock (_sync)
            _listener.Dispose();
    }
}
