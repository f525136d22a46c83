namespace Leasehold.Engine.Benchmarks;

/// <summary>
/// Target 5: the managed heap that 1,000,000 outstanding delegations on distinct files cost, measured as the
/// growth of the live heap after full, compacting collections. Runs in a process of its own so nothing else lives
/// on the heap. The holder is one shared object and the grant handles are not kept by the benchmark: what is
/// counted is what the engine itself holds on to.
/// </summary>
internal static class HeapMeasurement
{
    public static IReadOnlyList<ResultRow> Run(int count)
    {
        const double budget = 256.0 * 1024 * 1024;
        var (fileStateBytes, grantBytes) = ObjectSizes();

        long before = LiveHeap();
        long allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var engine = new LeaseEngine();
        for (int i = 0; i < count; i++)
        {
            // 64 clients, as if a few machines had cached a large tree.
            var owner = new Owner((ulong)(i % 64) + 1, 1);
            engine.GrantNow(new GrantRequest(FileKey.From((ulong)i + 1), owner, GrantKind.Delegation, GrantMode.Read, UnbrokenHolder.Instance));
        }
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        long after = LiveHeap();
        long heapSize = GC.GetGCMemoryInfo(GCKind.Any).HeapSizeBytes;
        if (engine.TrackedFiles != count)
            throw new InvalidOperationException($"Expected {count} tracked files, found {engine.TrackedFiles}.");
        GC.KeepAlive(engine);

        double grown = after - before;
        double perDelegation = grown / count;
        double dictionaryPerEntry = perDelegation - fileStateBytes - grantBytes;
        return
        [
            new ResultRow("5", $"{count:N0} outstanding read delegations on distinct files: live managed heap growth", "≤ 256 MiB",
                Fmt.MiB(grown), grown <= budget,
                $"{perDelegation:F0} B per delegation: FileState {fileStateBytes} B + Grant {grantBytes} B + dictionary ≈{dictionaryPerEntry:F0} B; " +
                $"GC heap size after: {Fmt.MiB(heapSize)}; allocated while granting {Fmt.MiB(allocated)}"),
        ];
    }

    private static long LiveHeap()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    /// <summary>Exact sizes of the two per-file engine objects, from the allocation counter of this thread.</summary>
    private static (long FileState, long Grant) ObjectSizes()
    {
        using var engine = new LeaseEngine();
        var key = FileKey.From(1);
        // Warm up so the counter sees only the objects, not type loading or JIT.
        _ = new FileState(key, engine);
        var warm = new FileState(key, engine);
        _ = new Grant(warm, default, GrantKind.Delegation, GrantMode.Read, UnbrokenHolder.Instance);

        long start = GC.GetAllocatedBytesForCurrentThread();
        var state = new FileState(key, engine);
        long afterState = GC.GetAllocatedBytesForCurrentThread();
        var grant = new Grant(state, default, GrantKind.Delegation, GrantMode.Read, UnbrokenHolder.Instance);
        long afterGrant = GC.GetAllocatedBytesForCurrentThread();
        GC.KeepAlive(grant);
        return (afterState - start, afterGrant - afterState);
    }
}
