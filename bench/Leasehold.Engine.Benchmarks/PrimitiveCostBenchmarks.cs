using System.Collections.Concurrent;
using System.Diagnostics;
using BenchmarkDotNet.Attributes;

namespace Leasehold.Engine.Benchmarks;

/// <summary>
/// Not a target: the price of the building blocks a grant+release is made of on this machine, to see where the
/// engine's time goes. Run with <c>bdn -- --filter '*PrimitiveCost*'</c>; the default run leaves it out.
/// </summary>
[MemoryDiagnoser]
#pragma warning disable CA1822 // BenchmarkDotNet runs instance methods only
public class PrimitiveCostBenchmarks
{
    private static readonly FileKey Key = FileKey.From(7);
    private readonly ConcurrentDictionary<FileKey, object> _dictionary = new();
    private readonly object _gate = new();
    private readonly TimeProvider _time = TimeProvider.System;
    private int _counter;

    [GlobalSetup]
    public void Setup() => _dictionary[FileKey.From(8)] = _gate;

    [Benchmark(Description = "TimeProvider.System.GetTimestamp()")]
    public long Timestamp() => _time.GetTimestamp();

    [Benchmark(Description = "Stopwatch.GetTimestamp()")]
    public long StopwatchTimestamp() => Stopwatch.GetTimestamp();

    [Benchmark(Description = "uncontended lock(object) enter+exit")]
    public int Monitor()
    {
        lock (_gate)
            return ++_counter;
    }

    [Benchmark(Description = "ConcurrentDictionary TryGetValue, hit")]
    public bool DictionaryHit() => _dictionary.TryGetValue(FileKey.From(8), out _);

    [Benchmark(Description = "ConcurrentDictionary GetOrAdd (miss) + TryRemove(pair)")]
    public bool DictionaryAddRemove()
    {
        var value = _dictionary.GetOrAdd(Key, static _ => new object());
        return _dictionary.TryRemove(new KeyValuePair<FileKey, object>(Key, value));
    }

    [Benchmark(Description = "allocate an 80-byte object (a Grant's size)")]
    public object Allocate80() => new byte[56]; // 16 header + 8 length + 56 = 80 bytes
}
#pragma warning restore CA1822
