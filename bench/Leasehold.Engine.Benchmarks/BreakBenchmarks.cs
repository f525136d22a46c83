using BenchmarkDotNet.Attributes;

namespace Leasehold.Engine.Benchmarks;

/// <summary>
/// Target 3 as BenchmarkDotNet sees it: grant a read lease, then a writer breaks it in Await mode and the holder
/// releases it from its notice. BenchmarkDotNet waits for each task on a blocked thread, which adds a wake-up per
/// operation; the per-operation median of the break alone comes from the <c>roundtrip</c> mode.
/// </summary>
[MemoryDiagnoser]
public class BreakRoundTripBenchmarks : IDisposable
{
    private static readonly FileKey File = FileKey.From(20);
    private static readonly Owner Holder = new(1, 1);
    private static readonly Owner Writer = new(2, 2);

    private LeaseEngine _engine = null!;
    private ReleasingHolder _holder = null!;

    [GlobalSetup]
    public void Setup()
    {
        _engine = new LeaseEngine();
        _holder = new ReleasingHolder(_engine);
    }

    // BenchmarkDotNet calls it as the global cleanup; IDisposable says who owns the engine.
    [GlobalCleanup]
    public void Dispose() => _engine.Dispose();

    [Benchmark(Description = "grant read lease, writer awaits break, holder releases in OnBreak")]
    public async Task<BreakStatus> GrantThenAwaitBreak()
    {
        _engine.GrantNow(new GrantRequest(File, Holder, GrantKind.Lease, GrantMode.Read, _holder));
        var result = await _engine.BreakAsync(File, FileOperation.OpenWrite, Writer, BreakMode.Await);
        return result.Status;
    }
}

/// <summary>
/// Target 4 as BenchmarkDotNet sees it: one writer breaks 10,000 read delegations on one file, each held by its own
/// owner, and every holder releases from its notice. The delegations are set up before each iteration (one invocation
/// per iteration), on a fresh file because a recalled file refuses delegations for the recall window.
/// </summary>
public class FanOutBreakBenchmarks : IDisposable
{
    public const int Delegations = 10_000;
    private static readonly Owner Writer = new(ulong.MaxValue, 1);

    private LeaseEngine _engine = null!;
    private ReleasingHolder[] _holders = null!;
    private ulong _nextFile = 1_000;
    private FileKey _file;

    [GlobalSetup]
    public void Setup()
    {
        _engine = new LeaseEngine();
        _holders = new ReleasingHolder[Delegations];
        for (int i = 0; i < Delegations; i++)
            _holders[i] = new ReleasingHolder(_engine);
    }

    // BenchmarkDotNet calls it as the global cleanup; IDisposable says who owns the engine.
    [GlobalCleanup]
    public void Dispose() => _engine.Dispose();

    [IterationSetup]
    public void Delegate()
    {
        _file = FileKey.From(_nextFile++);
        for (int i = 0; i < Delegations; i++)
        {
            _holders[i].Reset();
            _engine.GrantNow(new GrantRequest(_file, new Owner((ulong)i + 1, 1), GrantKind.Delegation, GrantMode.Read, _holders[i]));
        }
    }

    [Benchmark(Description = "writer breaks 10,000 read delegations (Await)")]
    public async Task<int> BreakAll()
    {
        await _engine.BreakAsync(_file, FileOperation.OpenWrite, Writer, BreakMode.Await);
        int told = 0;
        foreach (var h in _holders)
            told += h.Breaks;
        if (told != Delegations)
            throw new InvalidOperationException($"Only {told} of {Delegations} holders heard of the break.");
        return told;
    }
}
