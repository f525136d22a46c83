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
public sealed class MeterRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentQueue<RecordedMeasurement> _measurements = new();

    public MeterRecorder(Meter meter)
    {
        ArgumentNullException.ThrowIfNull(meter);
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, meter))
                listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Add(i, v, tags));
        _listener.SetMeasurementEventCallback<int>((i, v, tags, _) => Add(i, v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Add(i, v, tags));
        _listener.Start();
    }

    private void Add(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var dictionary = new Dictionary<string, object?>();
        foreach (var tag in tags)
            dictionary[tag.Key] = tag.Value;
        _measurements.Enqueue(new RecordedMeasurement(instrument.Name, value, dictionary));
    }

    /// <summary>Everything recorded so far (observable instruments only after <see cref="Observe"/>).</summary>
    public IReadOnlyList<RecordedMeasurement> All => [.. _measurements];

    /// <summary>The measurements of one instrument, optionally only those carrying every tag given.</summary>
    public IReadOnlyList<RecordedMeasurement> Of(string instrument, params (string Key, object? Value)[] tags) =>
        [.. _measurements.Where(m => m.Instrument == instrument && m.Has(tags))];

    /// <summary>The sum of one counter's measurements with those tags.</summary>
    public double Sum(string instrument, params (string Key, object? Value)[] tags) => Of(instrument, tags).Sum(m => m.Value);

    /// <summary>Asks the observable instruments for their values now.</summary>
    public void Observe() => _listener.RecordObservableInstruments();

    /// <summary>After <see cref="Observe"/>: the latest value an observable gauge reported for those tags (null: none).</summary>
    public double? Gauge(string instrument, params (string Key, object? Value)[] tags)
    {
        var seen = Of(instrument, tags);
        return seen.Count == 0 ? null : seen[^1].Value;
    }

    public void Dispose() => _listener.Dispose();
}
