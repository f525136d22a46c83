using Leasehold.Nfs4.Protocol;

namespace Leasehold.Nfs4.Tests;

/// <summary>The per-operation counts behind leasehold.nfs.operations and leasehold.nfs.compounds.</summary>
public sealed class StatusCountsTests
{
    [Fact]
    public void Each_key_and_status_is_counted_apart_and_only_what_was_counted_is_reported()
    {
        var counts = new StatusCounts(keys: 100);
        for (int i = 0; i < 5; i++)
            counts.Count(53, NfsStat4.Ok);
        counts.Count(99, NfsStat4.Ok);
        counts.Count(18, NfsStat4.Delay);
        counts.Count(18, NfsStat4.Delay);
        counts.Count(18, NfsStat4.Ok);
        counts.Count(0, NfsStat4.NoEnt);

        var snapshot = counts.Snapshot().OrderBy(c => c.Key).ThenBy(c => c.Status).ToList();
        Assert.Equal([(0, NfsStat4.NoEnt, 1L), (18, NfsStat4.Ok, 1L), (18, NfsStat4.Delay, 2L), (53, NfsStat4.Ok, 5L), (99, NfsStat4.Ok, 1L)], snapshot);
        Assert.Equal(10, counts.Total());
    }

    [Fact]
    public async Task Counts_from_many_threads_at_once_are_exact()
    {
        var counts = new StatusCounts(keys: 3);
        const int Threads = 8, Each = 100_000;
        await Task.WhenAll(Enumerable.Range(0, Threads).Select(t => Task.Run(() =>
        {
            for (int i = 0; i < Each; i++)
                counts.Count(i % 3, i % 10 == 0 ? NfsStat4.Delay : NfsStat4.Ok);
        })));

        Assert.Equal((long)Threads * Each, counts.Total());
        var snapshot = counts.Snapshot().ToDictionary(c => (c.Key, c.Status), c => c.Count);
        for (int key = 0; key < 3; key++)
        {
            long ok = Enumerable.Range(0, Each).Count(i => i % 3 == key && i % 10 != 0), delay = Enumerable.Range(0, Each).Count(i => i % 3 == key && i % 10 == 0);
            Assert.Equal(Threads * ok, snapshot[(key, NfsStat4.Ok)]);
            Assert.Equal(Threads * delay, snapshot[(key, NfsStat4.Delay)]);
        }
    }
}
