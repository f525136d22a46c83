using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Leasehold.Nfs4.Protocol;

namespace Leasehold.Nfs4;

/// <summary>
/// Counts of outcomes by key (an opcode, a minor version) and <see cref="NfsStat4"/>, cheap enough to take on every
/// operation of every COMPOUND; exported through an observable counter (<see cref="Nfs4Metrics"/>), the way knfsd keeps
/// its per-operation counts in plain arrays for /proc/net/rpc/nfsd.
/// </summary>
/// <remarks>
/// NFS4_OK, the outcome of nearly every operation, is counted in one cell per key and per processor stripe
/// (<see cref="ProcessorStripes"/>; each stripe on cache lines of its own), so two cores answering
/// SEQUENCE at once do not fight over one line. An error is counted in a cell per (key, status) made on its first
/// occurrence. A direct <c>Counter&lt;long&gt;.Add</c> with two tags cost 46 ns on one thread and 120 ns with two
/// contending (OpenTelemetry's aggregation, 2 CPUs, docs/benchmarks.md "Metrics overhead"); this costs one uncontended
/// interlocked add.
/// </remarks>
internal sealed class StatusCounts
{
    private const int LongsPerLine = 8;

    private readonly int _keys;
    private readonly int _stride; // longs per stripe, whole cache lines
    private readonly long[] _ok;
    private readonly ConcurrentDictionary<(int Key, NfsStat4 Status), StrongBox<long>> _errors = new();

    /// <param name="keys">Keys are 0 to <paramref name="keys"/> − 1.</param>
    public StatusCounts(int keys)
    {
        _keys = keys;
        _stride = (keys + LongsPerLine - 1) / LongsPerLine * LongsPerLine + LongsPerLine; // a spare line between stripes
        _ok = new long[ProcessorStripes.Count * _stride];
    }

    /// <summary>One outcome of <paramref name="key"/> (0 ≤ key &lt; the keys given).</summary>
    public void Count(int key, NfsStat4 status)
    {
        if (status == NfsStat4.Ok)
            Interlocked.Increment(ref _ok[ProcessorStripes.Current * _stride + key]);
        else
            Interlocked.Increment(ref _errors.GetOrAdd((key, status), static _ => new StrongBox<long>()).Value);
    }

    /// <summary>Every (key, status) counted at least once, with its count since the start.</summary>
    public IEnumerable<(int Key, NfsStat4 Status, long Count)> Snapshot()
    {
        for (int key = 0; key < _keys; key++)
        {
            long ok = Ok(key);
            if (ok != 0)
                yield return (key, NfsStat4.Ok, ok);
        }
        foreach (var (cell, count) in _errors)
            yield return (cell.Key, cell.Status, Volatile.Read(ref count.Value));
    }

    /// <summary>Every outcome of every key, errors included.</summary>
    public long Total()
    {
        long total = 0;
        for (int key = 0; key < _keys; key++)
            total += Ok(key);
        foreach (var count in _errors.Values)
            total += Volatile.Read(ref count.Value);
        return total;
    }

    private long Ok(int key)
    {
        long sum = 0;
        for (int i = key; i < _ok.Length; i += _stride)
            sum += Volatile.Read(ref _ok[i]);
        return sum;
    }
}
