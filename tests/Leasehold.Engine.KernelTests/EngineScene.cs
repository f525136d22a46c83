using Leasehold.Testing;

namespace Leasehold.Engine.KernelTests;

/// <summary>
/// The engine half of a scenario: an engine on a manual clock, one file, and owners named after the kernel
/// processes they stand for. In the kernel a lease belongs to an open file description, so an owner here is
/// (process, descriptor): <see cref="Owner.Group"/> is the probe process, <see cref="Owner.Id"/> its descriptor.
/// Opens are mirrored too, because the kernel checks a lease against the file's opens and the engine can only do
/// so for opens it was told about.
/// </summary>
internal sealed class EngineScene : IAsyncDisposable
{
    public static readonly FileKey File = FileKey.From(0x1ea5e);

    /// <summary>Process A's first descriptor: the usual lease holder.</summary>
    public static readonly Owner A = new(1, 1);

    /// <summary>Process A's second descriptor on the same file.</summary>
    public static readonly Owner ASecond = new(1, 2);

    public static readonly Owner B = new(2, 1);

    public static readonly Owner C = new(3, 1);

    private bool _drained;

    public EngineScene(TimeSpan? leaseBreakTime = null, IOwnerMatcher? matcher = null)
    {
        var options = new LeaseEngineOptions();
        if (leaseBreakTime is { } breakTime)
            options.LeaseBreakTime = breakTime;
        Clock = new ManualTimeProvider();
        Engine = new LeaseEngine(options, Clock, matcher);
    }

    public ManualTimeProvider Clock { get; }

    public LeaseEngine Engine { get; }

    /// <summary>An open that nothing conflicts with (a lease holder's own descriptor, say).</summary>
    public void Open(Owner owner, OpenAccess access) =>
        Assert.Equal(BreakStatus.Proceed, Engine.OpenAsync(File, owner, access, BreakMode.NonBlocking).Now().Status);

    /// <summary>The engine's O_NONBLOCK open: starts breaks and says WouldBlock instead of waiting.</summary>
    public BreakResult TryOpen(Owner owner, OpenAccess access) => Engine.OpenAsync(File, owner, access, BreakMode.NonBlocking).Now();

    /// <summary>The engine's blocking open: completes once the conflicting leases are gone.</summary>
    public Task<BreakResult> StartOpen(Owner owner, OpenAccess access) => Engine.OpenAsync(File, owner, access, BreakMode.Await).AsTask();

    public GrantResult TryLease(Owner owner, GrantMode mode, IGrantHolder holder, GrantKind kind = GrantKind.Lease) =>
        Engine.GrantAsync(new GrantRequest(File, owner, kind, mode, holder)).Now();

    public Grant Lease(Owner owner, GrantMode mode, IGrantHolder holder, GrantKind kind = GrantKind.Lease)
    {
        var result = TryLease(owner, mode, holder, kind);
        Assert.True(result.IsGranted, $"expected a {mode} {kind} for {owner}, got {result.Status}");
        return result.Grant!;
    }

    /// <summary>The grant as <see cref="LeaseEngine.Snapshot"/> shows it, or null once it is released.</summary>
    public GrantSnapshot? SnapshotOf(Grant grant)
    {
        Assert.False(_drained, "the engine was already drained");
        return Engine.Snapshot().Grants.SingleOrDefault(g => g.Holder == grant.Owner && g.Kind == grant.Kind && g.File == grant.File);
    }

    /// <summary>
    /// Disposes the engine and waits for every holder notice already queued, so a test can count notices
    /// exactly (including "no more came") without a timed wait.
    /// </summary>
    public async Task DrainAsync()
    {
        _drained = true;
        await Engine.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
    }

    public async ValueTask DisposeAsync()
    {
        if (!_drained)
            await DrainAsync();
    }
}
