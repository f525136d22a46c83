using Leasehold.Testing;
using static Leasehold.Engine.Tests.EngineFixture;

namespace Leasehold.Engine.Tests;

/// <summary>
/// A holder asking for, or weakening, its own grant while that grant is being broken (ConflictRules.ChangeOwnGrant):
/// only the downgrade a downgrade break asks for goes through; everything else is BreakPending and changes nothing,
/// so the holder is never told it holds a grant it is about to lose and no waiting breaker is let in early.
/// Notices are counted after DisposeAsync, which waits for every queued notice to run.
/// </summary>
public sealed class OwnChangeWhileBreakingTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan BreakTime = TimeSpan.FromSeconds(45);

    /// <summary>The grant's state, mode, pending break and deadline, as the snapshot shows them.</summary>
    private static (GrantState, GrantMode, BreakTarget, DateTimeOffset?) Seen(EngineFixture f, Grant grant)
    {
        var g = f.Engine.Snapshot().Grants.Single(s => s.Holder == grant.Owner && s.Kind == grant.Kind && s.File == grant.File);
        return (g.State, g.Mode, g.PendingBreak, g.Deadline);
    }

    [Theory]
    [InlineData(BreakMode.Await)]
    [InlineData(BreakMode.NonBlocking)]
    public async Task Read_lease_asked_for_again_while_a_writer_breaks_it_is_break_pending(BreakMode mode)
    {
        var f = new EngineFixture();
        var holder = new RecordingHolder();
        var grant = f.Grant(FileA, Alice, GrantKind.Lease, GrantMode.Read, holder);
        var writer = f.Engine.OpenAsync(FileA, Bob, OpenAccess.Write, mode).AsTask();
        var before = Seen(f, grant);

        var again = f.TryGrant(FileA, Alice, GrantKind.Lease, GrantMode.Read, holder);
        var upgrade = f.TryGrant(FileA, Alice, GrantKind.Lease, GrantMode.Write, holder);
        bool downgraded = f.Engine.Downgrade(grant);

        Assert.Equal((GrantStatus.BreakPending, (Grant?)null), (again.Status, again.Grant));
        Assert.Equal(GrantStatus.BreakPending, upgrade.Status);
        Assert.False(downgraded);
        Assert.Equal((GrantState.Breaking, GrantMode.Read, BreakTarget.Revoke, before.Item4), Seen(f, grant)); // the deadline did not move
        Assert.Equal(f.Clock.GetUtcNow() + BreakTime, before.Item4);
        if (mode == BreakMode.Await)
            Assert.False(writer.IsCompleted);

        // The deadline still comes, on the timer: the grant is revoked as the break said it would be.
        f.Clock.Advance(BreakTime);
        Assert.Equal(GrantState.Revoked, grant.State);
        Assert.Equal(mode == BreakMode.Await ? BreakStatus.Proceed : BreakStatus.WouldBlock, (await writer.WaitAsync(Bound)).Status);
        await f.DisposeAsync();
        Assert.Equal([(BreakTarget.Revoke, false), (BreakTarget.Revoke, true)], holder.Events.Select(e => (e.Target, e.Expired)));
    }

    [Fact]
    public async Task Write_lease_downgraded_while_a_writer_waits_stays_write_and_breaking()
    {
        var f = new EngineFixture();
        var holder = new RecordingHolder();
        var grant = f.Grant(FileA, Alice, GrantKind.Lease, GrantMode.Write, holder);
        var writer = f.Engine.OpenAsync(FileA, Bob, OpenAccess.Write, BreakMode.Await).AsTask();

        var byRequest = f.TryGrant(FileA, Alice, GrantKind.Lease, GrantMode.Read, holder);
        bool byDowngrade = f.Engine.Downgrade(grant);
        var again = f.TryGrant(FileA, Alice, GrantKind.Lease, GrantMode.Write, holder);

        Assert.Equal(GrantStatus.BreakPending, byRequest.Status);
        Assert.False(byDowngrade);
        Assert.Equal(GrantStatus.BreakPending, again.Status);
        Assert.Equal((GrantState.Breaking, GrantMode.Write, BreakTarget.Revoke), (grant.State, grant.Mode, grant.PendingTarget));
        Assert.False(writer.IsCompleted);

        f.Engine.Release(grant); // the one answer to a revoke
        Assert.Equal(BreakStatus.Proceed, (await writer.WaitAsync(Bound)).Status);
        await f.DisposeAsync();
        Assert.Equal([BreakTarget.Revoke], holder.Events.Select(e => e.Target));
    }

    [Fact]
    public async Task Escalated_break_is_not_answered_by_a_downgrade_so_the_waiting_reader_is_not_let_in_early()
    {
        await using var f = new EngineFixture();
        var holder = new RecordingHolder();
        var grant = f.Grant(FileA, Alice, GrantKind.Lease, GrantMode.Write, holder);
        var reader = f.Engine.OpenAsync(FileA, Bob, OpenAccess.Read, BreakMode.Await).AsTask();
        var writer = f.Engine.OpenAsync(FileA, Carol, OpenAccess.Write, BreakMode.Await).AsTask();
        await holder.WaitForAsync(2); // Downgrade, then the escalation to Revoke

        Assert.False(f.Engine.Downgrade(grant));
        Assert.Equal(GrantStatus.BreakPending, f.TryGrant(FileA, Alice, GrantKind.Lease, GrantMode.Read, holder).Status);

        Assert.Equal((GrantState.Breaking, GrantMode.Write, BreakTarget.Revoke), (grant.State, grant.Mode, grant.PendingTarget));
        Assert.False(reader.IsCompleted);
        Assert.False(writer.IsCompleted);
        Assert.Equal([1, 1], f.Engine.Snapshot().Breakers.Select(b => b.BlockedBy));

        f.Engine.Release(grant);
        Assert.Equal(BreakStatus.Proceed, (await reader.WaitAsync(Bound)).Status);
        Assert.Equal(BreakStatus.Proceed, (await writer.WaitAsync(Bound)).Status);
    }

    [Fact]
    public async Task Escalated_break_with_both_breakers_gone_still_refuses_a_downgrade()
    {
        await using var f = new EngineFixture();
        var holder = new RecordingHolder();
        var grant = f.Grant(FileA, Alice, GrantKind.Lease, GrantMode.Write, holder);
        Assert.Equal(BreakStatus.WouldBlock, f.Open(FileA, Bob, OpenAccess.Read).Status);
        Assert.Equal(BreakStatus.WouldBlock, f.Open(FileA, Carol, OpenAccess.Write).Status);

        Assert.Equal(GrantStatus.BreakPending, f.TryGrant(FileA, Alice, GrantKind.Lease, GrantMode.Read, holder).Status);
        Assert.False(f.Engine.Downgrade(grant));
        Assert.Equal((GrantState.Breaking, GrantMode.Write, BreakTarget.Revoke), (grant.State, grant.Mode, grant.PendingTarget));
    }

    [Theory]
    [InlineData(BreakMode.Await)]
    [InlineData(BreakMode.NonBlocking)]
    public async Task Asking_for_read_answers_a_downgrade_break_like_Downgrade_does(BreakMode mode)
    {
        var f = new EngineFixture();
        var holder = new RecordingHolder();
        var grant = f.Grant(FileA, Alice, GrantKind.Lease, GrantMode.Write, holder);
        var reader = f.Engine.OpenAsync(FileA, Bob, OpenAccess.Read, mode).AsTask();

        var answer = f.TryGrant(FileA, Alice, GrantKind.Lease, GrantMode.Read, holder);

        Assert.Equal(GrantStatus.Granted, answer.Status);
        Assert.Same(grant, answer.Grant);
        Assert.Equal((GrantState.Active, GrantMode.Read, BreakTarget.None, (DateTimeOffset?)null), Seen(f, grant));
        var opened = await reader.WaitAsync(Bound);
        Assert.Equal(mode == BreakMode.Await ? BreakStatus.Proceed : BreakStatus.WouldBlock, opened.Status);
        // The break is over: asking for Read again keeps the grant; nothing expires at the old deadline.
        Assert.Same(grant, f.TryGrant(FileA, Alice, GrantKind.Lease, GrantMode.Read, holder).Grant);
        f.Clock.Advance(BreakTime);
        Assert.Equal((GrantState.Active, GrantMode.Read), (grant.State, grant.Mode));
        await f.DisposeAsync();
        Assert.Equal([(BreakTarget.Downgrade, false)], holder.Events.Select(e => (e.Target, e.Expired)));
    }

    [Fact]
    public async Task Asking_for_write_again_under_a_pending_downgrade_is_break_pending_and_keeps_the_reader_waiting()
    {
        await using var f = new EngineFixture();
        var holder = new RecordingHolder();
        var grant = f.Grant(FileA, Alice, GrantKind.Lease, GrantMode.Write, holder);
        var reader = f.Engine.OpenAsync(FileA, Bob, OpenAccess.Read, BreakMode.Await).AsTask();

        Assert.Equal(GrantStatus.BreakPending, f.TryGrant(FileA, Alice, GrantKind.Lease, GrantMode.Write, holder).Status);

        Assert.Equal((GrantState.Breaking, GrantMode.Write, BreakTarget.Downgrade), (grant.State, grant.Mode, grant.PendingTarget));
        Assert.False(reader.IsCompleted);
        Assert.True(f.Engine.Downgrade(grant));
        Assert.Equal(BreakStatus.Proceed, (await reader.WaitAsync(Bound)).Status);
    }

    [Theory]
    [InlineData(GrantMode.Read, FileOperation.Unlink, GrantMode.Read)]
    [InlineData(GrantMode.Write, FileOperation.OpenRead, GrantMode.Read)] // recalled, not downgraded: NFSv4 cannot downgrade one
    [InlineData(GrantMode.Write, FileOperation.SetAttributes, GrantMode.Write)]
    public async Task Delegation_being_recalled_is_not_granted_again_in_any_mode(GrantMode held, FileOperation op, GrantMode requested)
    {
        await using var f = new EngineFixture();
        var holder = new RecordingHolder();
        var grant = f.Grant(FileA, Alice, GrantKind.Delegation, held, holder);
        var breaker = f.Engine.BreakAsync(FileA, op, Bob, BreakMode.Await).AsTask();

        Assert.Equal(GrantStatus.BreakPending, f.TryGrant(FileA, Alice, GrantKind.Delegation, requested, holder).Status);
        Assert.False(f.Engine.Downgrade(grant));
        Assert.Equal((GrantState.Breaking, held, BreakTarget.Revoke), (grant.State, grant.Mode, grant.PendingTarget));
        Assert.False(breaker.IsCompleted);
    }

    [Theory]
    [InlineData(FileOperation.LayoutChange, GrantMode.Shared)]
    [InlineData(FileOperation.Truncate, GrantMode.Exclusive)]
    public async Task Shared_layout_being_revoked_is_not_granted_again_nor_upgraded(FileOperation op, GrantMode requested)
    {
        await using var f = new EngineFixture();
        var holder = new RecordingHolder();
        var grant = f.Grant(FileA, Alice, GrantKind.Layout, GrantMode.Shared, holder);
        var change = f.Engine.BreakAsync(FileA, op, Bob, BreakMode.Await).AsTask();

        Assert.Equal(GrantStatus.BreakPending, f.TryGrant(FileA, Alice, GrantKind.Layout, requested, holder).Status);
        Assert.False(f.Engine.Downgrade(grant));
        Assert.Equal((GrantState.Breaking, GrantMode.Shared), (grant.State, grant.Mode));
        Assert.False(change.IsCompleted);
    }

    [Fact]
    public async Task Holders_grant_being_broken_keeps_out_its_new_grant_of_another_kind()
    {
        await using var f = new EngineFixture();
        var holder = new RecordingHolder();
        f.Grant(FileA, Alice, GrantKind.Lease, GrantMode.Read, holder);
        Assert.Equal(BreakStatus.WouldBlock, f.Open(FileA, Bob, OpenAccess.Write).Status); // the writer will come back

        Assert.Equal(GrantStatus.BreakPending, f.TryGrant(FileA, Alice, GrantKind.Delegation, GrantMode.Read, holder).Status);
        Assert.True(f.TryGrant(FileA, Alice, GrantKind.Layout, GrantMode.Shared, holder).IsGranted); // a layout is no lease
    }

    [Fact]
    public async Task Clients_grant_being_broken_keeps_out_a_new_grant_for_another_of_its_owners()
    {
        // With owner groups, Alice and AliceOther are one client: their grants never conflict, but a break pending on
        // one is still pending for a grant the other asks for.
        await using var f = new EngineFixture(matcher: OwnerMatchers.SameGroup);
        var holder = new RecordingHolder();
        var grant = f.Grant(FileA, Alice, GrantKind.Lease, GrantMode.Read, holder);
        Assert.Equal(BreakStatus.WouldBlock, f.Open(FileA, Bob, OpenAccess.Write).Status);

        Assert.Equal(GrantStatus.BreakPending, f.TryGrant(FileA, AliceOther, GrantKind.Lease, GrantMode.Read, holder).Status);

        f.Engine.Release(grant);
        Assert.True(f.TryGrant(FileA, AliceOther, GrantKind.Lease, GrantMode.Read, holder).IsGranted); // the break is over
    }

    [Fact]
    public async Task Once_the_revoked_grant_is_released_the_holder_may_ask_again()
    {
        await using var f = new EngineFixture();
        var holder = new RecordingHolder();
        var grant = f.Grant(FileA, Alice, GrantKind.Lease, GrantMode.Read, holder);
        Assert.Equal(BreakStatus.WouldBlock, f.Open(FileA, Bob, OpenAccess.Write).Status);
        Assert.Equal(GrantStatus.BreakPending, f.TryGrant(FileA, Alice, GrantKind.Lease, GrantMode.Read, holder).Status);

        f.Engine.Release(grant);
        var fresh = f.TryGrant(FileA, Alice, GrantKind.Lease, GrantMode.Read, holder);

        Assert.True(fresh.IsGranted);
        Assert.NotSame(grant, fresh.Grant);
        Assert.Equal(GrantState.Active, fresh.Grant!.State);
    }
}
