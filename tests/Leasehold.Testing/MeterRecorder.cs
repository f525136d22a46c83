using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Leasehold.Testing;

/// <summary>One measurement a <see cref="MeterRecorder"/> saw: instrument name, value and tags.</summary>
public sealed record RecordedMeasurement(string Instrument, double Value, IReadOnlyDictionary<string, object?> Tags)
{
    /// <summary>Whether every tag given is present with that value (compared as strings).</summary>
    public bool Has(params (string Key, object? Value)[] tags) =>
        tags.All(t => Tags.TryGetValue(t.Key, out var v) && Equals(v?.ToString(), t.Value?.ToString()));
}

/// <summary>
/// Records the measurements of one <see cref="Meter"/> instance only, so tests running in parallel, each with its own
/// server or engine (and so its own meter of the same name), never count each other's. Dispose to stop listening.
/// </summary>
/// <remarks>
/// An observable counter reports totals, not increments: the recorder reads every one when it starts (the baseline) and
/// again on each <see cref="Of"/> or <see cref="Sum"/> of it, which then answer what was counted since the recorder
/// started, one measurement per tag set that moved, as a plain counter's would.
/// </remarks>
public sealed class MeterRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentQueue<RecordedMeasurement> _measurements = new();
    private readonly ConcurrentDictionary<string, byte> _cumulative = new(); // observable counters' names
    private readonly ConcurrentQueue<(int Round, RecordedMeasurement Measurement)> _totals = new();
    private int _round;

    public MeterRecorder(Meter meter)
    {
        ArgumentNullException.ThrowIfNull(meter);
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (!ReferenceEquals(instrument.Meter, meter))
                return;
            if (instrument is ObservableCounter<long> or ObservableCounter<int> or ObservableCounter<double>)
                _cumulative[instrument.Name] = 0;
            listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Add(i, v, tags));
        _listener.SetMeasurementEventCallback<int>((i, v, tags, _) => Add(i, v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Add(i, v, tags));
        _listener.Start();
        _listener.RecordObservableInstruments(); // round 0: the observable counters' baseline
    }

    private void Add(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var dictionary = new Dictionary<string, object?>();
        foreach (var tag in tags)
            dictionary[tag.Key] = tag.Value;
        var measurement = new RecordedMeasurement(instrument.Name, value, dictionary);
        if (_cumulative.ContainsKey(instrument.Name))
            _totals.Enqueue((Volatile.Read(ref _round), measurement));
        else
            _measurements.Enqueue(measurement);
    }

    /// <summary>Everything recorded so far (observable gauges only after <see cref="Observe"/>; observable counters never: see <see cref="Of"/>).</summary>
    public IReadOnlyList<RecordedMeasurement> All => [.. _measurements];

    /// <summary>The measurements of one instrument, optionally only those carrying every tag given.</summary>
    public IReadOnlyList<RecordedMeasurement> Of(string instrument, params (string Key, object? Value)[] tags) =>
        _cumulative.ContainsKey(instrument) ? Counted(instrument, tags) : [.. _measurements.Where(m => m.Instrument == instrument && m.Has(tags))];

    /// <summary>An observable counter's tag sets that moved since round 0, each with its increase.</summary>
    private List<RecordedMeasurement> Counted(string instrument, (string Key, object? Value)[] tags)
    {
        int round = Interlocked.Increment(ref _round);
        _listener.RecordObservableInstruments();
        static string Key(RecordedMeasurement m) => string.Join(",", m.Tags.OrderBy(t => t.Key, StringComparer.Ordinal).Select(t => $"{t.Key}={t.Value}"));
        var seen = _totals.Where(t => t.Measurement.Instrument == instrument && t.Measurement.Has(tags)).ToList();
        var baseline = seen.Where(t => t.Round == 0).ToDictionary(t => Key(t.Measurement), t => t.Measurement.Value);
        return [.. seen.Where(t => t.Round == round)
            .Select(t => t.Measurement with { Value = t.Measurement.Value - baseline.GetValueOrDefault(Key(t.Measurement)) })
            .Where(m => m.Value != 0)];
    }

    /// <summary>The sum of one counter's measurements with those tags.</summary>
    public double Sum(string instrument, params (string Key, object? Value)[] tags) => Of(instrument, tags).Sum(m => m.Value);

    /// <summary>Asks the observable instruments for their values now.</summary>
    public void Observe()
    {
        Interlocked.Increment(ref _round); // round 0 stays the observable counters' baseline
        _listener.RecordObservableInstruments();
    }

    /// <summary>After <see cref="Observe"/>: the latest value an observable gauge reported for those tags (null: none).</summary>
    public double? Gauge(string instrument, params (string Key, object? Value)[] tags)
    {
        var seen = Of(instrument, tags);
        return seen.Count == 0 ? null : seen[^1].Value;
    }

    public void Dispose() => _listener.Dispose();
}
