using Leasehold.Testing;
using static Leasehold.Engine.Tests.EngineFixture;

namespace Leasehold.Engine.Tests;

/// <summary>"Recall, then change" as one step: a change in progress keeps out the grants it conflicts with.</summary>
public sealed class FileChangeTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Change_in_progress_keeps_out_grants_it_conflicts_with_until_it_ends()
    {
        await using var f = new EngineFixture();
        var holder = new RecordingHolder();

        var change = f.Engine.BeginChangeAsync(FileA, FileOperation.Unlink, Owner.Anonymous, BreakMode.NonBlocking).Now();
        Assert.True(change.CanProceed);

        Assert.Equal(GrantStatus.BreakPending, f.TryGrant(FileA, Alice, GrantKind.Delegation, GrantMode.Read, holder).Status);
        Assert.True(f.TryGrant(FileA, Alice, GrantKind.Lease, GrantMode.Read, holder).IsGranted); // unlink does not break leases

        change.Dispose();
        change.Dispose();
        Assert.True(f.TryGrant(FileA, Bob, GrantKind.Delegation, GrantMode.Read, holder).IsGranted);
    }

    [Fact]
    public async Task Awaited_change_holds_the_file_from_the_instant_its_conflicts_are_gone()
    {
        await using var f = EngineFixture.Create(o => o.DelegationRecallWindow = TimeSpan.Zero);
        var holder = new RecordingHolder();
        var grant = f.Grant(FileA, Alice, GrantKind.Delegation, GrantMode.Read, holder);

        var pending = f.Engine.BeginChangeAsync(FileA, FileOperation.Truncate, Owner.Anonymous, BreakMode.Await).AsTask();
        f.Engine.Release(grant);
        using var change = await pending.WaitAsync(Bound);

        Assert.True(change.CanProceed);
        // No recall window here, so only the held change keeps the next delegation out.
        Assert.Equal(GrantStatus.BreakPending, f.TryGrant(FileA, Bob, GrantKind.Delegation, GrantMode.Read, holder).Status);
        Assert.Equal(new BreakerSnapshot(FileA, FileOperation.Truncate, Owner.Anonymous, 0), Assert.Single(f.Engine.Snapshot().Breakers));
    }

    [Fact]
    public async Task Change_that_would_block_holds_nothing()
    {
        await using var f = new EngineFixture();
        var holder = new RecordingHolder();
        f.Grant(FileA, Alice, GrantKind.Delegation, GrantMode.Read, holder);

        var change = f.Engine.BeginChangeAsync(FileA, FileOperation.SetAttributes, Bob, BreakMode.NonBlocking).Now();

        Assert.Equal(BreakStatus.WouldBlock, change.Result.Status);
        Assert.Empty(f.Engine.Snapshot().Breakers);
        change.Dispose();
    }

    [Fact]
    public async Task Cancelling_after_the_change_was_granted_does_not_release_the_file()
    {
        await using var f = EngineFixture.Create(o => o.DelegationRecallWindow = TimeSpan.Zero);
        var holder = new RecordingHolder();
        var grant = f.Grant(FileA, Alice, GrantKind.Delegation, GrantMode.Read, holder);
        using var cts = new CancellationTokenSource();

        var pending = f.Engine.BeginChangeAsync(FileA, FileOperation.Rename, Bob, BreakMode.Await, cts.Token).AsTask();
        f.Engine.Release(grant);
        using var change = await pending.WaitAsync(Bound);
        await cts.CancelAsync();

        Assert.Single(f.Engine.Snapshot().Breakers);
        Assert.Equal(GrantStatus.BreakPending, f.TryGrant(FileA, Carol, GrantKind.Delegation, GrantMode.Read, holder).Status);
    }
}
