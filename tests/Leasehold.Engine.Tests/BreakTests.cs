using Leasehold.Testing;
using static Leasehold.Engine.Tests.EngineFixture;

namespace Leasehold.Engine.Tests;

/// <summary>Rule 3: breaking. Notices are counted after DisposeAsync, which waits for every queued notice to run.</summary>
public sealed class BreakTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Non_blocking_writer_gets_would_block_and_the_holder_is_told_to_give_up()
    {
        var f = new EngineFixture();
        var holder = new RecordingHolder();
        var grant = f.Grant(FileA, Alice, GrantKind.Lease, GrantMode.Read, holder);

        var result = f.Open(FileA, Bob, OpenAccess.Write);

        Assert.Equal(BreakStatus.WouldBlock, result.Status);
        Assert.Equal(f.Clock.GetUtcNow() + TimeSpan.FromSeconds(45), result.Deadline);
        Assert.Equal(GrantState.Breaking, grant.State);
        var notice = Assert.Single(await holder.WaitForAsync(1));
        Assert.Equal(BreakTarget.Revoke, notice.Target);
        Assert.Equal(result.Deadline, notice.Deadline);
        Assert.Empty(f.Engine.Snapshot().Breakers); // a non-blocking open registers nothing and parks nothing
        await f.DisposeAsync();
    }

    [Fact]
    public async Task Holder_hears_of_a_break_once_however_many_breakers_come()
    {
        var f = new EngineFixture();
        var holder = new RecordingHolder();
        f.Grant(FileA, Alice, GrantKind.Delegation, GrantMode.Read, holder);

        Assert.Equal(BreakStatus.WouldBlock, f.Open(FileA, Bob, OpenAccess.Write).Status);
        Assert.Equal(BreakStatus.WouldBlock, f.Open(FileA, Carol, OpenAccess.Write).Status);
        Assert.Equal(BreakStatus.WouldBlock, f.Break(FileA, FileOperation.Unlink, Carol).Status);
        await f.DisposeAsync();

        Assert.Single(holder.Events);
    }

    [Fact]
    public async Task Awaiting_writer_is_released_when_the_holder_returns_the_lease_from_its_notice()
    {
        await using var f = new EngineFixture();
        var holder = new RecordingHolder();
        var grant = f.Grant(FileA, Alice, GrantKind.Lease, GrantMode.Read, holder);
        holder.OnBreakAction = (g, _) => f.Engine.Release(g); // re-entrant: runs outside every engine lock

        var result = await f.Engine.OpenAsync(FileA, Bob, OpenAccess.Write, BreakMode.Await).AsTask().WaitAsync(Bound);

        Assert.Equal(BreakStatus.Proceed, result.Status);
        Assert.Equal(GrantState.Released, grant.State);
        // The open was registered as the breaker was released: a lease for anyone else is now refused.
        Assert.Equal(GrantStatus.ConflictingOpen, f.TryGrant(FileA, Carol, GrantKind.Lease, GrantMode.Read, holder).Status);
    }

    [Fact]
    public async Task Write_lease_broken_by_a_reader_only_has_to_downgrade()
    {
        await using var f = new EngineFixture();
        var holder = new RecordingHolder();
        var grant = f.Grant(FileA, Alice, GrantKind.Lease, GrantMode.Write, holder);

        var open = f.Engine.OpenAsync(FileA, Bob, OpenAccess.Read, BreakMode.Await);
        var notice = Assert.Single(await holder.WaitForAsync(1));
        Assert.Equal(BreakTarget.Downgrade, notice.Target);
        Assert.False(open.IsCompleted);

        Assert.True(f.Engine.Downgrade(grant));

        Assert.Equal(BreakStatus.Proceed, (await open.AsTask().WaitAsync(Bound)).Status);
        Assert.Equal(GrantState.Active, grant.State);
        Assert.Equal(GrantMode.Read, grant.Mode);
    }

    [Fact]
    public async Task Pending_downgrade_is_escalated_to_a_revoke_when_a_writer_arrives()
    {
        await using var f = new EngineFixture();
        var holder = new RecordingHolder();
        var grant = f.Grant(FileA, Alice, GrantKind.Lease, GrantMode.Write, holder);

        var reader = f.Engine.OpenAsync(FileA, Bob, OpenAccess.Read, BreakMode.Await);
        var writer = f.Engine.OpenAsync(FileA, Carol, OpenAccess.Write, BreakMode.Await);
        var notices = await holder.WaitForAsync(2);
        Assert.Equal([BreakTarget.Downgrade, BreakTarget.Revoke], notices.Select(n => n.Target).Order());

        // A revoke is answered only by a release: a downgrade now is refused and lets nobody in early.
        Assert.False(f.Engine.Downgrade(grant));
        Assert.False(reader.IsCompleted);
        Assert.False(writer.IsCompleted);
        Assert.Equal((GrantState.Breaking, GrantMode.Write), (grant.State, grant.Mode));

        f.Engine.Release(grant);
        Assert.Equal(BreakStatus.Proceed, (await reader.AsTask().WaitAsync(Bound)).Status);
        Assert.Equal(BreakStatus.Proceed, (await writer.AsTask().WaitAsync(Bound)).Status);
    }

    [Fact]
    public async Task No_conflicting_grant_is_admitted_while_a_break_is_pending()
    {
        await using var f = new EngineFixture();
        var holder = new RecordingHolder();
        f.Grant(FileA, Alice, GrantKind.Lease, GrantMode.Write, holder);
        var reader = f.Engine.OpenAsync(FileA, Bob, OpenAccess.Read, BreakMode.Await);

        Assert.Equal(GrantStatus.BreakPending, f.TryGrant(FileA, Carol, GrantKind.Lease, GrantMode.Read, holder).Status);
        Assert.False(reader.IsCompleted);
    }

    [Fact]
    public async Task Parked_breaker_keeps_out_grants_it_would_conflict_with_even_once_the_file_is_quiet()
    {
        await using var f = new EngineFixture();
        var holder = new RecordingHolder();
        f.Grant(FileA, Alice, GrantKind.Layout, GrantMode.Shared, holder);
        var change = f.Engine.BreakAsync(FileA, FileOperation.LayoutChange, Bob, BreakMode.Await);

        Assert.Equal(GrantStatus.BreakPending, f.TryGrant(FileA, Carol, GrantKind.Layout, GrantMode.Shared, holder).Status);
        Assert.True(f.TryGrant(FileA, Carol, GrantKind.Lease, GrantMode.Write, holder).IsGranted); // a lease is no layout
        Assert.False(change.IsCompleted);
    }

    [Fact]
    public async Task Space_change_recalls_delegations_and_shared_layouts_of_others_but_not_the_changers_own()
    {
        var f = new EngineFixture();
        var holder = new RecordingHolder();
        var delegation = f.Grant(FileA, Alice, GrantKind.Delegation, GrantMode.Read, holder);
        var layout = f.Grant(FileA, Carol, GrantKind.Layout, GrantMode.Shared, holder);
        var own = f.Grant(FileB, Bob, GrantKind.Delegation, GrantMode.Write, holder);

        Assert.Equal(BreakStatus.WouldBlock, f.Break(FileA, FileOperation.SpaceChange, Bob).Status);
        Assert.Equal(BreakStatus.Proceed, f.Break(FileB, FileOperation.SpaceChange, Bob).Status);
        await f.DisposeAsync();

        Assert.Equal([delegation, layout], holder.Breaks.Select(e => e.Grant).OrderBy(g => g == layout));
        Assert.DoesNotContain(holder.Breaks, e => e.Grant == own);
    }

    [Fact]
    public async Task Cancelled_breaker_fails_with_cancellation_and_registers_no_open()
    {
        await using var f = new EngineFixture();
        var holder = new RecordingHolder();
        var grant = f.Grant(FileA, Alice, GrantKind.Lease, GrantMode.Read, holder);
        using var cts = new CancellationTokenSource();

        var open = f.Engine.OpenAsync(FileA, Bob, OpenAccess.Write, BreakMode.Await, cts.Token);
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => open.AsTask().WaitAsync(Bound));
        Assert.Empty(f.Engine.Snapshot().Breakers);
        f.Engine.Release(grant);
        // No open of Bob's was left behind: a write lease, which any other open would forbid, is granted.
        Assert.True(f.TryGrant(FileA, Carol, GrantKind.Lease, GrantMode.Write, holder).IsGranted);
    }

    [Fact]
    public async Task Await_breaker_with_an_already_cancelled_token_throws_before_breaking_anything()
    {
        await using var f = new EngineFixture();
        var holder = new RecordingHolder();
        var grant = f.Grant(FileA, Alice, GrantKind.Lease, GrantMode.Read, holder);

        await Assert.ThrowsAsync<OperationCanceledException>(async () => await f.Engine.OpenAsync(FileA, Bob, OpenAccess.Write, BreakMode.Await, new CancellationToken(true)));
        Assert.Equal(GrantState.Active, grant.State);
    }

    [Fact]
    public async Task Recalled_file_gets_no_new_delegation_until_the_recall_window_passes()
    {
        await using var f = EngineFixture.Create(o => o.DelegationRecallWindow = TimeSpan.FromSeconds(30));
        var holder = new RecordingHolder();
        var grant = f.Grant(FileA, Alice, GrantKind.Delegation, GrantMode.Read, holder);
        f.Open(FileA, Bob, OpenAccess.Write);
        f.Engine.Release(grant);
        Assert.True(f.Open(FileA, Bob, OpenAccess.Write).CanProceed);
        f.Engine.Close(FileA, Bob, OpenAccess.Write);

        Assert.Equal(GrantStatus.RecentlyRecalled, f.TryGrant(FileA, Carol, GrantKind.Delegation, GrantMode.Read, holder).Status);
        var lease = f.TryGrant(FileA, Carol, GrantKind.Lease, GrantMode.Read, holder);
        Assert.True(lease.IsGranted); // leases are not held back
        f.Engine.Release(lease.Grant!);

        f.Clock.Advance(TimeSpan.FromSeconds(30));
        f.SweepIdleStates();
        Assert.Equal(0, f.Engine.TrackedFiles); // once the window is over, the idle file is forgotten
        Assert.True(f.TryGrant(FileA, Carol, GrantKind.Delegation, GrantMode.Read, holder).IsGranted);
    }

    [Theory]
    [InlineData(FileOperation.SetAttributes)]
    [InlineData(FileOperation.Link)]
    [InlineData(FileOperation.Unlink)]
    [InlineData(FileOperation.Rename)]
    [InlineData(FileOperation.Truncate)]
    public async Task Metadata_changes_recall_delegations_but_leave_plain_leases_alone_except_truncate(FileOperation op)
    {
        var f = new EngineFixture();
        var delegationHolder = new RecordingHolder("delegation");
        var leaseHolder = new RecordingHolder("lease");
        var delegation = f.Grant(FileA, Alice, GrantKind.Delegation, GrantMode.Read, delegationHolder);
        var lease = f.Grant(FileA, Bob, GrantKind.Lease, GrantMode.Read, leaseHolder);

        Assert.Equal(BreakStatus.WouldBlock, f.Break(FileA, op, Carol).Status);
        Assert.Equal(GrantState.Breaking, delegation.State);
        Assert.Equal(op == FileOperation.Truncate ? GrantState.Breaking : GrantState.Active, lease.State);
        await f.DisposeAsync();
        Assert.Single(delegationHolder.Events);
        Assert.Equal(op == FileOperation.Truncate ? 1 : 0, leaseHolder.Events.Count);
    }

    [Fact]
    public async Task Shared_layout_holder_changing_the_layout_waits_for_the_other_shared_holders()
    {
        await using var f = new EngineFixture();
        var mine = new RecordingHolder("mine");
        var theirs = new RecordingHolder("theirs");
        var myLayout = f.Grant(FileA, Alice, GrantKind.Layout, GrantMode.Shared, mine);
        var theirLayout = f.Grant(FileA, Bob, GrantKind.Layout, GrantMode.Shared, theirs);
        theirs.OnBreakAction = (g, _) => f.Engine.Release(g);

        var change = await f.Engine.BreakAsync(FileA, FileOperation.LayoutChange, Alice, BreakMode.Await).AsTask().WaitAsync(Bound);

        Assert.Equal(BreakStatus.Proceed, change.Status);
        Assert.Equal(GrantState.Released, theirLayout.State);
        Assert.Equal(GrantState.Active, myLayout.State);
        Assert.Empty(mine.Events);
    }

    [Fact]
    public async Task Layout_change_fails_at_once_while_another_owner_holds_an_exclusive_layout()
    {
        var f = new EngineFixture();
        var holder = new RecordingHolder();
        var exclusive = f.Grant(FileA, Alice, GrantKind.Layout, GrantMode.Exclusive, holder);

        Assert.Equal(BreakStatus.LayoutBusy, f.Break(FileA, FileOperation.Truncate, Bob).Status);
        // Even an awaiting breaker is not parked: an exclusive layout is never broken, so waiting could only hang.
        Assert.Equal(BreakStatus.LayoutBusy, f.Engine.BreakAsync(FileA, FileOperation.LayoutChange, Bob, BreakMode.Await).Now().Status);
        Assert.Equal(BreakStatus.Proceed, f.Break(FileA, FileOperation.LayoutChange, Alice).Status); // its own change is fine
        Assert.Equal(GrantState.Active, exclusive.State);
        await f.DisposeAsync();
        Assert.Empty(holder.Events);
    }

    [Fact]
    public async Task Opens_never_break_layouts()
    {
        var f = new EngineFixture();
        var holder = new RecordingHolder();
        f.Grant(FileA, Alice, GrantKind.Layout, GrantMode.Exclusive, holder);
        Assert.True(f.Open(FileA, Bob, OpenAccess.ReadWrite).CanProceed);
        Assert.True(f.Break(FileA, FileOperation.SetAttributes, Bob).CanProceed);
        await f.DisposeAsync();
        Assert.Empty(holder.Events);
    }
}
