using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Leasehold.Testing;

namespace Leasehold.Nfs4.Tests;

/// <summary>The batches behind leasehold.nfs.operation.duration: every value reaches the histogram once, with its tag.</summary>
public sealed class BatchedHistogramTests : IDisposable
{
    private readonly Meter _meter = new("Leasehold.Tests.BatchedHistogram");
    private readonly MeterListener _listener = new();
    private readonly ConcurrentQueue<(double Value, string Tag)> _seen = new();
    private readonly Histogram<double> _histogram;

    public BatchedHistogramTests()
    {
        _histogram = _meter.CreateHistogram<double>("durations");
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, _meter))
                listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<double>((_, value, tags, _) => _seen.Enqueue((value, (string)tags[0].Value!)));
        _listener.Start();
    }

    private static KeyValuePair<string, object?> Tag(int key) => new("key", $"k{key}");

    [Fact]
    public void Values_wait_in_the_batch_until_a_flush_and_a_full_batch_goes_by_itself()
    {
        var time = new ManualTimeProvider();
        using var batched = new BatchedHistogram(_histogram, Tag, time);
        Assert.True(batched.Enabled);
        batched.Record(1, 0.5);
        batched.Record(2, 0.25);
        Assert.Empty(_seen);

        batched.Flush();
        Assert.Equal([(0.5, "k1"), (0.25, "k2")], _seen.OrderByDescending(s => s.Value));

        _seen.Clear();
        batched.Record(3, 1);
        time.Advance(TimeSpan.FromSeconds(1)); // the once-a-second flush
        Assert.Equal([(1.0, "k3")], _seen);
    }

    [Fact]
    public async Task Many_threads_at_once_lose_and_repeat_nothing()
    {
        using (var batched = new BatchedHistogram(_histogram, Tag, new ManualTimeProvider()))
        {
            const int Threads = 8, Each = 5 * BatchedHistogram.BatchSize + 17;
            await Task.WhenAll(Enumerable.Range(0, Threads).Select(t => Task.Run(() =>
            {
                for (int i = 0; i < Each; i++)
                    batched.Record(t, t * 1_000_000 + i);
            })));
            // Whole batches went already; the rest goes at Dispose.
        }
        var byTag = _seen.GroupBy(s => s.Tag).ToDictionary(g => g.Key, g => g.Select(s => s.Value).Order().ToArray());
        Assert.Equal(8, byTag.Count);
        for (int t = 0; t < 8; t++)
            Assert.Equal(Enumerable.Range(0, 5 * BatchedHistogram.BatchSize + 17).Select(i => (double)(t * 1_000_000 + i)), byTag[$"k{t}"]);
    }

    [Fact]
    public async Task Flushes_while_threads_record_lose_and_repeat_nothing()
    {
        using var batched = new BatchedHistogram(_histogram, Tag, new ManualTimeProvider());
        const int Threads = 4, Each = 3 * BatchedHistogram.BatchSize + 5;
        using var done = new CancellationTokenSource();
        var flusher = Task.Run(() =>
        {
            while (!done.IsCancellationRequested)
                batched.Flush();
        });
        await Task.WhenAll(Enumerable.Range(0, Threads).Select(t => Task.Run(() =>
        {
            for (int i = 0; i < Each; i++)
                batched.Record(t, t * 1_000_000 + i);
        })));
        done.Cancel();
        await flusher;
        batched.Flush();

        var byTag = _seen.GroupBy(s => s.Tag).ToDictionary(g => g.Key, g => g.Select(s => s.Value).Order().ToArray());
        for (int t = 0; t < Threads; t++)
            Assert.Equal(Enumerable.Range(0, Each).Select(i => (double)(t * 1_000_000 + i)), byTag[$"k{t}"]);
    }

    [Fact]
    public void A_thread_that_exits_has_its_values_recorded_and_its_lane_dropped()
    {
        using var batched = new BatchedHistogram(_histogram, Tag, new ManualTimeProvider());
        var thread = new Thread(() =>
        {
            batched.Record(7, 7);
            batched.Record(8, 8);
        });
        thread.Start();
        thread.Join();
        Assert.Equal(1, batched.LaneCount);
        Assert.Empty(_seen);

        batched.Flush();
        Assert.Equal([(7.0, "k7"), (8.0, "k8")], _seen.OrderBy(s => s.Value));
        Assert.Equal(0, batched.LaneCount);
    }

    public void Dispose()
    {
        _listener.Dispose();
        _meter.Dispose();
    }
}
