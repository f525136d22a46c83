using BenchmarkDotNet.Attributes;

namespace Leasehold.Engine.Benchmarks;

/// <summary>
/// Target 1: an uncontended grant and release of a read lease, against the kernel's F_SETLEASE pair in the same run.
/// </summary>
/// <remarks>
/// Two engine cases, because they cost differently: on a file the engine does not track yet, the grant creates the
/// file's state and puts it in the engine's dictionary, and the release retires and removes it again (this is the
/// case the kernel pair compares with, a lease on an otherwise idle file). On a file that stays tracked (another
/// owner has it open for read), only the grant object comes and goes.
/// </remarks>
[MemoryDiagnoser]
public class GrantReleaseBenchmarks : IDisposable
{
    private static readonly FileKey IdleFile = FileKey.From(1);
    private static readonly FileKey OpenFile = FileKey.From(2);
    private static readonly Owner Holder = new(1, 1);
    private static readonly Owner Reader = new(2, 2);

    private LeaseEngine _engine = null!;
    private KernelLease _kernel = null!;

    [GlobalSetup]
    public void Setup()
    {
        _engine = new LeaseEngine();
        _kernel = new KernelLease();
        if (_engine.OpenAsync(OpenFile, Reader, OpenAccess.Read, BreakMode.NonBlocking).Now() != BreakStatus.Proceed)
            throw new InvalidOperationException("The reader's open should not conflict with anything.");
    }

    // BenchmarkDotNet calls it as the global cleanup; IDisposable says who owns the engine and the descriptor.
    [GlobalCleanup]
    public void Dispose()
    {
        _kernel.Dispose();
        _engine.Dispose();
    }

    [Benchmark(Baseline = true, Description = "kernel F_SETLEASE RDLCK+UNLCK")]
    public int KernelPair() => _kernel.Pair();

    [Benchmark(Description = "engine grant+release, idle file")]
    public GrantState EngineIdleFile()
    {
        var grant = _engine.GrantNow(new GrantRequest(IdleFile, Holder, GrantKind.Lease, GrantMode.Read, UnbrokenHolder.Instance));
        _engine.Release(grant);
        return grant.State;
    }

    [Benchmark(Description = "engine grant+release, file kept open by another owner")]
    public GrantState EngineTrackedFile()
    {
        var grant = _engine.GrantNow(new GrantRequest(OpenFile, Holder, GrantKind.Lease, GrantMode.Read, UnbrokenHolder.Instance));
        _engine.Release(grant);
        return grant.State;
    }
}
