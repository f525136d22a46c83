using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Leasehold.Metrics;
using Leasehold.Nfs4.Protocol;

namespace Leasehold.Nfs4;

/// <summary>
/// Counts of outcomes by key (an opcode, a minor version) and <see cref="NfsStat4"/>, cheap enough to take on every
/// operation of every COMPOUND; exported through an observable counter (<see cref="Nfs4Metrics"/>).
/// </summary>
/// <remarks>
/// NFS4_OK, the outcome of nearly every operation, is counted in a <see cref="StripedCounts"/> cell per key: one
/// uncontended interlocked add. An error is counted in a cell per (key, status) made on its first occurrence.
/// </remarks>
internal sealed class StatusCounts
{
    private readonly StripedCounts _ok;
    private readonly ConcurrentDictionary<(int Key, NfsStat4 Status), StrongBox<long>> _errors = new();

    /// <param name="keys">Keys are 0 to <paramref name="keys"/> − 1.</param>
    public StatusCounts(int keys) => _ok = new StripedCounts(keys);

    /// <summary>One outcome of <paramref name="key"/> (0 ≤ key &lt; the keys given).</summary>
    public void Count(int key, NfsStat4 status)
    {
        if (status == NfsStat4.Ok)
            _ok.Increment(key);
        else
            Interlocked.Increment(ref _errors.GetOrAdd((key, status), static _ => new StrongBox<long>()).Value);
    }

    /// <summary>Every (key, status) counted at least once, with its count since the start.</summary>
    public IEnumerable<(int Key, NfsStat4 Status, long Count)> Snapshot()
    {
        for (int key = 0; key < _ok.Cells; key++)
        {
            long ok = _ok.Read(key);
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
        for (int key = 0; key < _ok.Cells; key++)
            total += _ok.Read(key);
        foreach (var count in _errors.Values)
            total += Volatile.Read(ref count.Value);
        return total;
    }
}
