using Leasehold.Testing;
using static Leasehold.Engine.Tests.EngineFixture;

namespace Leasehold.Engine.Tests;

/// <summary>Rules 1 and 2: opens are registered by owner, and grants are admitted with Linux's rules.</summary>
public sealed class GrantAdmissionTests : IAsyncLifetime
{
    private readonly EngineFixture _f = new();
    private readonly RecordingHolder _holder = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => _f.DisposeAsync().AsTask();

    [Fact]
    public void Read_lease_is_refused_while_another_owner_has_the_file_open_for_write()
    {
        Assert.True(_f.Open(FileA, Bob, OpenAccess.Write).CanProceed);
        Assert.Equal(GrantStatus.ConflictingOpen, _f.TryGrant(FileA, Alice, GrantKind.Lease, GrantMode.Read, _holder).Status);
    }

    [Fact]
    public void Read_lease_is_granted_while_other_owners_only_read()
    {
        _f.Open(FileA, Bob, OpenAccess.Read);
        _f.Open(FileA, Carol, OpenAccess.Read);
        Assert.True(_f.TryGrant(FileA, Alice, GrantKind.Lease, GrantMode.Read, _holder).IsGranted);
    }

    [Fact]
    public void Write_lease_is_refused_while_another_owner_has_the_file_open_at_all()
    {
        _f.Open(FileA, Bob, OpenAccess.Read);
        Assert.Equal(GrantStatus.ConflictingOpen, _f.TryGrant(FileA, Alice, GrantKind.Lease, GrantMode.Write, _holder).Status);
    }

    [Fact]
    public void Holders_own_opens_do_not_stand_in_the_way_of_its_grant()
    {
        _f.Open(FileA, Alice, OpenAccess.ReadWrite);
        Assert.True(_f.TryGrant(FileA, Alice, GrantKind.Lease, GrantMode.Write, _holder).IsGranted);
    }

    [Fact]
    public void Closing_the_conflicting_open_lets_the_grant_through()
    {
        _f.Open(FileA, Bob, OpenAccess.Write);
        Assert.False(_f.TryGrant(FileA, Alice, GrantKind.Delegation, GrantMode.Read, _holder).IsGranted);
        _f.Engine.Close(FileA, Bob, OpenAccess.Write);
        Assert.True(_f.TryGrant(FileA, Alice, GrantKind.Delegation, GrantMode.Read, _holder).IsGranted);
    }

    [Fact]
    public void Closing_an_open_that_was_never_registered_is_a_caller_bug()
    {
        _f.Open(FileA, Bob, OpenAccess.Read);
        Assert.Throws<InvalidOperationException>(() => _f.Engine.Close(FileA, Bob, OpenAccess.Write));
        Assert.Throws<InvalidOperationException>(() => _f.Engine.Close(FileB, Bob, OpenAccess.Read));
    }

    [Fact]
    public void File_state_is_swept_once_idle_for_a_whole_sweep_interval_and_kept_while_in_use()
    {
        _f.Open(FileA, Bob, OpenAccess.Read);
        _f.Open(FileA, Bob, OpenAccess.Read);
        _f.Engine.Close(FileA, Bob, OpenAccess.Read);
        _f.SweepIdleStates();
        Assert.Equal(1, _f.Engine.TrackedFiles); // still open once

        _f.Engine.Close(FileA, Bob, OpenAccess.Read);
        Assert.Equal(1, _f.Engine.TrackedFiles); // idle, kept for reuse for a while
        _f.Clock.Advance(TimeSpan.FromSeconds(10));
        _f.Open(FileA, Bob, OpenAccess.Read); // reused between the two sweeps: the mark is cleared
        _f.Engine.Close(FileA, Bob, OpenAccess.Read);
        _f.Clock.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(1, _f.Engine.TrackedFiles);

        _f.SweepIdleStates();
        Assert.Equal(0, _f.Engine.TrackedFiles);
        Assert.Equal(0, _f.Clock.ActiveTimers); // nothing left to sweep: the sweep timer is disarmed
    }

    [Fact]
    public void Read_leases_of_different_owners_coexist()
    {
        _f.Grant(FileA, Alice, GrantKind.Lease, GrantMode.Read, _holder);
        _f.Grant(FileA, Bob, GrantKind.Lease, GrantMode.Read, _holder);
        _f.Grant(FileA, Carol, GrantKind.Delegation, GrantMode.Read, _holder);
        Assert.Equal(3, _f.Engine.Snapshot().Grants.Count);
    }

    [Fact]
    public void Write_lease_is_refused_while_another_owner_holds_a_read_lease()
    {
        _f.Grant(FileA, Bob, GrantKind.Lease, GrantMode.Read, _holder);
        Assert.Equal(GrantStatus.ConflictingGrant, _f.TryGrant(FileA, Alice, GrantKind.Lease, GrantMode.Write, _holder).Status);
        Assert.Equal(GrantStatus.ConflictingGrant, _f.TryGrant(FileA, Alice, GrantKind.Delegation, GrantMode.Write, _holder).Status);
    }

    [Fact]
    public void Holder_upgrades_and_downgrades_its_own_lease_in_place()
    {
        var grant = _f.Grant(FileA, Alice, GrantKind.Lease, GrantMode.Read, _holder);

        var upgraded = _f.TryGrant(FileA, Alice, GrantKind.Lease, GrantMode.Write, _holder);
        Assert.Same(grant, upgraded.Grant);
        Assert.Equal(GrantMode.Write, grant.Mode);

        var downgraded = _f.TryGrant(FileA, Alice, GrantKind.Lease, GrantMode.Read, _holder);
        Assert.Same(grant, downgraded.Grant);
        Assert.Equal(GrantMode.Read, grant.Mode);
        Assert.Single(_f.Engine.Snapshot().Grants);
    }

    [Fact]
    public void Upgrade_is_refused_while_another_owner_shares_the_file()
    {
        var grant = _f.Grant(FileA, Alice, GrantKind.Lease, GrantMode.Read, _holder);
        _f.Grant(FileA, Bob, GrantKind.Lease, GrantMode.Read, _holder);
        Assert.Equal(GrantStatus.ConflictingGrant, _f.TryGrant(FileA, Alice, GrantKind.Lease, GrantMode.Write, _holder).Status);
        Assert.Equal(GrantMode.Read, grant.Mode);
    }

    [Fact]
    public void Layouts_ignore_opens_shared_layouts_coexist_and_exclusive_stands_alone()
    {
        _f.Open(FileA, Bob, OpenAccess.ReadWrite);
        _f.Grant(FileA, Alice, GrantKind.Layout, GrantMode.Shared, _holder);
        _f.Grant(FileA, Carol, GrantKind.Layout, GrantMode.Shared, _holder);
        Assert.Equal(GrantStatus.ConflictingGrant, _f.TryGrant(FileA, Bob, GrantKind.Layout, GrantMode.Exclusive, _holder).Status);
        Assert.True(_f.TryGrant(FileB, Bob, GrantKind.Layout, GrantMode.Exclusive, _holder).IsGranted);
    }

    [Fact]
    public void Layout_and_write_delegation_on_one_file_do_not_conflict()
    {
        _f.Grant(FileA, Alice, GrantKind.Delegation, GrantMode.Write, _holder);
        Assert.True(_f.TryGrant(FileA, Bob, GrantKind.Layout, GrantMode.Exclusive, _holder).IsGranted);
    }

    [Fact]
    public void Released_grant_is_dead_and_releasing_again_is_harmless()
    {
        var grant = _f.Grant(FileA, Alice, GrantKind.Lease, GrantMode.Write, _holder);
        _f.Engine.Release(grant);
        _f.Engine.Release(grant);
        Assert.Equal(GrantState.Released, grant.State);
        Assert.False(_f.Engine.Downgrade(grant));
        Assert.Empty(_f.Engine.Snapshot().Grants);
    }
}
