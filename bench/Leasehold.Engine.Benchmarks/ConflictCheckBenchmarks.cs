using BenchmarkDotNet.Attributes;

namespace Leasehold.Engine.Benchmarks;

/// <summary>
/// Target 2: the conflict check an open for write makes on a file with no grants, which every NFS OPEN and every
/// local open pays. Must be at most 50 ns and allocate nothing.
/// </summary>
[MemoryDiagnoser]
public class ConflictCheckBenchmarks : IDisposable
{
    private static readonly FileKey UntrackedFile = FileKey.From(10);
    private static readonly FileKey OpenedFile = FileKey.From(11);
    private static readonly Owner Writer = new(1, 1);

    private LeaseEngine _engine = null!;

    [GlobalSetup]
    public void Setup()
    {
        _engine = new LeaseEngine();
        // Two other owners hold opens, so the file is tracked but has no grant.
        for (ulong i = 2; i <= 3; i++)
        {
            if (_engine.OpenAsync(OpenedFile, new Owner(i, i), OpenAccess.Read, BreakMode.NonBlocking).Now() != BreakStatus.Proceed)
                throw new InvalidOperationException("The opens should not conflict with anything.");
        }
        // Make sure the idle file really is untracked.
        if (_engine.TrackedFiles != 1)
            throw new InvalidOperationException($"Expected one tracked file, found {_engine.TrackedFiles}.");
    }

    // BenchmarkDotNet calls it as the global cleanup; IDisposable says who owns the engine.
    [GlobalCleanup]
    public void Dispose() => _engine.Dispose();

    [Benchmark(Description = "BreakAsync OpenWrite, untracked file")]
    public BreakStatus UntrackedFileOpenWrite() => _engine.BreakAsync(UntrackedFile, FileOperation.OpenWrite, Writer, BreakMode.NonBlocking).Now();

    [Benchmark(Description = "BreakAsync OpenWrite, file with only opens")]
    public BreakStatus OpenedFileOpenWrite() => _engine.BreakAsync(OpenedFile, FileOperation.OpenWrite, Writer, BreakMode.NonBlocking).Now();
}
