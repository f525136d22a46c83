using Leasehold.Testing;
using static Leasehold.Engine.Tests.EngineFixture;

namespace Leasehold.Engine.Tests;

/// <summary>Rule 4: every break ends by its deadline, on a timer, even if nobody calls the engine again.</summary>
public sealed class DeadlineTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Unanswered_break_revokes_the_grant_on_its_timer_and_releases_the_breaker()
    {
        await using var f = new EngineFixture();
        var holder = new RecordingHolder();
        var grant = f.Grant(FileA, Alice, GrantKind.Delegation, GrantMode.Read, holder);
        var writer = f.Engine.OpenAsync(FileA, Bob, OpenAccess.Write, BreakMode.Await);

        f.Clock.Advance(TimeSpan.FromSeconds(44.9));
        Assert.False(writer.IsCompleted);
        Assert.Equal(GrantState.Breaking, grant.State);

        f.Clock.Advance(TimeSpan.FromSeconds(0.1)); // the timer alone: no engine call in between

        Assert.Equal(BreakStatus.Proceed, (await writer.AsTask().WaitAsync(Bound)).Status);
        Assert.Equal(GrantState.Revoked, grant.State);
        var events = await holder.WaitForAsync(2);
        Assert.Equal(BreakTarget.Revoke, events[1].Target);
        Assert.True(events[1].Expired);
    }

    [Fact]
    public async Task Unanswered_downgrade_break_downgrades_the_write_lease_at_its_deadline()
    {
        await using var f = new EngineFixture();
        var holder = new RecordingHolder();
        var grant = f.Grant(FileA, Alice, GrantKind.Lease, GrantMode.Write, holder);
        var reader = f.Engine.OpenAsync(FileA, Bob, OpenAccess.Read, BreakMode.Await);

        f.Clock.Advance(TimeSpan.FromSeconds(45));

        Assert.Equal(BreakStatus.Proceed, (await reader.AsTask().WaitAsync(Bound)).Status);
        Assert.Equal(GrantState.Active, grant.State);
        Assert.Equal(GrantMode.Read, grant.Mode);
        Assert.Equal(BreakTarget.Downgrade, (await holder.WaitForAsync(2))[1].Target);
    }

    [Fact]
    public async Task Break_time_is_set_per_kind()
    {
        await using var f = EngineFixture.Create(o =>
        {
            o.LeaseBreakTime = TimeSpan.FromSeconds(5);
            o.DelegationBreakTime = TimeSpan.FromSeconds(20);
            o.LayoutBreakTime = TimeSpan.FromSeconds(60);
        });
        var holder = new RecordingHolder();
        var lease = f.Grant(FileA, Alice, GrantKind.Lease, GrantMode.Read, holder);
        var delegation = f.Grant(FileA, Bob, GrantKind.Delegation, GrantMode.Read, holder);
        var layout = f.Grant(FileA, Carol, GrantKind.Layout, GrantMode.Shared, holder);
        var start = f.Clock.GetUtcNow();

        Assert.Equal(BreakStatus.WouldBlock, f.Break(FileA, FileOperation.Truncate, Owner.Anonymous).Status);

        var deadlines = f.Engine.Snapshot().Grants.ToDictionary(g => g.Kind, g => g.Deadline);
        Assert.Equal(start + TimeSpan.FromSeconds(5), deadlines[GrantKind.Lease]);
        Assert.Equal(start + TimeSpan.FromSeconds(20), deadlines[GrantKind.Delegation]);
        Assert.Equal(start + TimeSpan.FromSeconds(60), deadlines[GrantKind.Layout]);

        f.Clock.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal((GrantState.Revoked, GrantState.Breaking, GrantState.Breaking), (lease.State, delegation.State, layout.State));
        f.Clock.Advance(TimeSpan.FromSeconds(15));
        Assert.Equal((GrantState.Revoked, GrantState.Revoked, GrantState.Breaking), (lease.State, delegation.State, layout.State));
        f.Clock.Advance(TimeSpan.FromSeconds(40));
        Assert.Equal(GrantState.Revoked, layout.State);
    }

    [Fact]
    public async Task Break_time_of_zero_revokes_at_once_and_never_means_wait_forever()
    {
        var f = EngineFixture.Create(o => o.LayoutBreakTime = TimeSpan.Zero);
        var holder = new RecordingHolder();
        var layout = f.Grant(FileA, Alice, GrantKind.Layout, GrantMode.Shared, holder);

        Assert.Equal(BreakStatus.Proceed, f.Break(FileA, FileOperation.LayoutChange, Bob).Status);

        Assert.Equal(GrantState.Revoked, layout.State);
        await f.DisposeAsync();
        var notice = Assert.Single(holder.Events);
        Assert.True(notice.Expired);
        Assert.Equal(BreakTarget.Revoke, notice.Target);
    }

    [Fact]
    public async Task Revoked_grant_stays_visible_and_inert_until_its_holder_releases_it()
    {
        await using var f = EngineFixture.Create(o => o.DelegationBreakTime = TimeSpan.Zero);
        var holder = new RecordingHolder();
        var grant = f.Grant(FileA, Alice, GrantKind.Delegation, GrantMode.Write, holder);

        Assert.True(f.Open(FileA, Bob, OpenAccess.Read).CanProceed);
        Assert.True(f.Open(FileA, Carol, OpenAccess.Write).CanProceed); // the revoked grant no longer conflicts

        var seen = Assert.Single(f.Engine.Snapshot().Grants);
        Assert.Equal(GrantState.Revoked, seen.State);
        f.Engine.Release(grant);
        Assert.Empty(f.Engine.Snapshot().Grants);
    }

    [Fact]
    public async Task Holder_that_answers_before_the_deadline_is_not_revoked_later()
    {
        var f = new EngineFixture();
        var holder = new RecordingHolder();
        var grant = f.Grant(FileA, Alice, GrantKind.Lease, GrantMode.Write, holder);
        Assert.Equal(BreakStatus.WouldBlock, f.Open(FileA, Bob, OpenAccess.Read).Status);
        f.Engine.Downgrade(grant);

        f.Clock.Advance(TimeSpan.FromMinutes(5));

        Assert.Equal((GrantState.Active, GrantMode.Read), (grant.State, grant.Mode));
        await f.DisposeAsync();
        Assert.Single(holder.Events); // the break notice, and no expiry
    }

    [Fact]
    public async Task Timer_is_disposed_once_the_file_has_nothing_left_to_time()
    {
        await using var f = EngineFixture.Create(o => o.DelegationRecallWindow = TimeSpan.Zero);
        var holder = new RecordingHolder();
        var grant = f.Grant(FileA, Alice, GrantKind.Delegation, GrantMode.Read, holder);
        Assert.Equal(BreakStatus.WouldBlock, f.Break(FileA, FileOperation.Unlink, Bob).Status);
        Assert.Equal(1, f.Clock.ActiveTimers);

        f.Engine.Release(grant);
        Assert.Equal(1, f.Clock.ActiveTimers); // the deadline timer is disarmed; only the idle sweep is armed

        f.SweepIdleStates();
        Assert.Equal(0, f.Clock.ActiveTimers);
        Assert.Equal(1, f.Clock.LiveTimers); // the sweep timer, kept disarmed for next time; the file's timer is gone
        Assert.Equal(0, f.Engine.TrackedFiles);
    }
}
