using System.Numerics;

namespace Leasehold.Metrics;

/// <summary>
/// A fixed set of counts (cells 0 to <see cref="Cells"/> − 1) cheap enough to take on every request: one uncontended
/// interlocked add, in the calling processor's stripe, each stripe on cache lines of its own. There are as many stripes as
/// processors, rounded up to a power of two (at most 64), indexed by <see cref="Thread.GetCurrentProcessorId"/>: a thread
/// that moves processors still lands on a valid stripe; the stripes only keep two processors off one cache line most of
/// the time. A read sums the stripes. The counts a layer exports through an observable counter, the way knfsd keeps its
/// per-operation counts in plain per-CPU arrays for /proc/net/rpc/nfsd.
/// </summary>
/// <remarks>
/// Why not <c>Counter&lt;long&gt;.Add</c>: OpenTelemetry aggregates each tag set under a lock. With two tags an add cost
/// 51 ns on one thread and 99 ns of CPU with two threads contending for the same tag set (2 CPUs, docs/benchmarks.md
/// "Metrics overhead"), and every request adds to the same few tag sets.
/// <para>Shared source (src/Shared), compiled into each layer that counts on its request path.</para>
/// </remarks>
internal sealed class StripedCounts
{
    private const int LongsPerLine = 8;

    private static readonly int s_stripes = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Clamp(Environment.ProcessorCount, 1, 64));

    private readonly int _stride; // longs per stripe: whole cache lines, and a spare line between stripes
    private readonly long[] _counts;

    /// <param name="cells">How many counts: cells are 0 to <paramref name="cells"/> − 1.</param>
    public StripedCounts(int cells)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(cells);
        Cells = cells;
        _stride = (cells + LongsPerLine - 1) / LongsPerLine * LongsPerLine + LongsPerLine;
        _counts = new long[s_stripes * _stride];
    }

    /// <summary>How many counts there are.</summary>
    public int Cells { get; }

    /// <summary>Adds one to <paramref name="cell"/>; ArgumentOutOfRangeException unless 0 ≤ cell &lt; <see cref="Cells"/>.</summary>
    public void Increment(int cell)
    {
        Check(cell);
        Interlocked.Increment(ref _counts[(Thread.GetCurrentProcessorId() & (s_stripes - 1)) * _stride + cell]);
    }

    /// <summary>The count of <paramref name="cell"/> since the start: the sum of every stripe's. ArgumentOutOfRangeException as for <see cref="Increment"/>.</summary>
    public long Read(int cell)
    {
        Check(cell);
        long sum = 0;
        for (int i = cell; i < _counts.Length; i += _stride)
            sum += Volatile.Read(ref _counts[i]);
        return sum;
    }

    private void Check(int cell)
    {
        if ((uint)cell >= (uint)Cells)
            throw new ArgumentOutOfRangeException(nameof(cell), cell, $"A cell is 0 to {Cells - 1}.");
    }
}
