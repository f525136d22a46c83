using Leasehold.Metrics;

namespace Leasehold.Rpc.Tests;

/// <summary>The per-processor counts behind the RPC and NFS layers' observable counters (src/Shared/Metrics).</summary>
public sealed class StripedCountsTests
{
    [Fact]
    public void Each_cell_counts_apart()
    {
        var counts = new StripedCounts(cells: 17); // more than a cache line of cells
        for (int i = 0; i < 5; i++)
            counts.Increment(16);
        counts.Increment(0);
        counts.Increment(8);

        Assert.Equal([1L, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5], Enumerable.Range(0, counts.Cells).Select(counts.Read));
    }

    [Fact]
    public async Task Counts_from_many_threads_at_once_are_exact()
    {
        var counts = new StripedCounts(cells: 3);
        const int Threads = 8, Each = 200_000;
        await Task.WhenAll(Enumerable.Range(0, Threads).Select(_ => Task.Run(() =>
        {
            for (int i = 0; i < Each; i++)
                counts.Increment(i % 3);
        })));

        for (int cell = 0; cell < 3; cell++)
            Assert.Equal((long)Threads * Enumerable.Range(0, Each).Count(i => i % 3 == cell), counts.Read(cell));
    }

    [Fact]
    public void A_cell_outside_the_set_is_refused_not_counted_elsewhere()
    {
        var counts = new StripedCounts(cells: 3);
        Assert.Throws<ArgumentOutOfRangeException>(() => counts.Increment(3));
        Assert.Throws<ArgumentOutOfRangeException>(() => counts.Increment(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => counts.Read(3));
        Assert.Throws<ArgumentOutOfRangeException>(() => new StripedCounts(0));
        Assert.All(Enumerable.Range(0, 3), cell => Assert.Equal(0, counts.Read(cell)));
    }
}
