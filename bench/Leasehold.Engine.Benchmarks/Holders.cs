namespace Leasehold.Engine.Benchmarks;

/// <summary>
/// A holder that gives its grant back the moment it hears of a break, on the notice thread, the way an NFS client
/// that has nothing cached answers a CB_RECALL at once. Counts the breaks it heard so a benchmark can check that
/// every holder was told.
/// </summary>
internal sealed class ReleasingHolder(LeaseEngine engine) : IGrantHolder
{
    private int _breaks;

    public int Breaks => Volatile.Read(ref _breaks);

    public void Reset() => Volatile.Write(ref _breaks, 0);

    public void OnBreak(Grant grant, BreakTarget target, DateTimeOffset deadline)
    {
        Interlocked.Increment(ref _breaks);
        engine.Release(grant);
    }

    public void OnBreakExpired(Grant grant, BreakTarget applied) => engine.Release(grant);
}

/// <summary>A holder for grants that are never broken in the benchmark: hearing of a break there is a bug in the benchmark.</summary>
internal sealed class UnbrokenHolder : IGrantHolder
{
    public static UnbrokenHolder Instance { get; } = new();

    public void OnBreak(Grant grant, BreakTarget target, DateTimeOffset deadline) =>
        throw new InvalidOperationException($"Nothing in this benchmark should break {grant}.");

    public void OnBreakExpired(Grant grant, BreakTarget applied) =>
        throw new InvalidOperationException($"Nothing in this benchmark should revoke {grant}.");
}

/// <summary>Small helpers the benchmarks share.</summary>
internal static class EngineCalls
{
    /// <summary>
    /// Takes a grant that must be granted at once. With the default authority GrantAsync always completes synchronously;
    /// anything else is a broken benchmark, not a slow engine.
    /// </summary>
    public static Grant GrantNow(this LeaseEngine engine, in GrantRequest request)
    {
        var pending = engine.GrantAsync(request);
        if (!pending.IsCompletedSuccessfully)
            throw new InvalidOperationException("GrantAsync did not complete synchronously with the in-process authority.");
        var result = pending.Result;
        return result.Grant ?? throw new InvalidOperationException($"Expected a grant, got {result.Status}.");
    }

    /// <summary>The result of a break that must complete synchronously (NonBlocking mode).</summary>
    public static BreakStatus Now(this ValueTask<BreakResult> pending)
    {
        if (!pending.IsCompletedSuccessfully)
            throw new InvalidOperationException("A NonBlocking break did not complete synchronously.");
        return pending.Result.Status;
    }
}
