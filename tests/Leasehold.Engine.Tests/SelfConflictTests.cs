using Leasehold.Testing;
using static Leasehold.Engine.Tests.EngineFixture;

namespace Leasehold.Engine.Tests;

/// <summary>Rule 5: an operation never breaks grants its own breaker holds. How identities match is pluggable.</summary>
public sealed class SelfConflictTests
{
    [Fact]
    public async Task Holders_own_write_open_does_not_recall_its_own_delegation()
    {
        var f = new EngineFixture();
        var holder = new RecordingHolder();
        var grant = f.Grant(FileA, Alice, GrantKind.Delegation, GrantMode.Read, holder);

        Assert.True(f.Open(FileA, Alice, OpenAccess.Write).CanProceed);
        Assert.True(f.Break(FileA, FileOperation.SetAttributes, Alice).CanProceed);
        Assert.True(f.Break(FileA, FileOperation.Rename, Alice).CanProceed);

        Assert.Equal(GrantState.Active, grant.State);
        await f.DisposeAsync();
        Assert.Empty(holder.Events);
    }

    [Fact]
    public async Task Same_group_matcher_treats_every_open_owner_of_a_client_as_the_client()
    {
        var f = new EngineFixture(matcher: OwnerMatchers.SameGroup);
        var holder = new RecordingHolder();
        var grant = f.Grant(FileA, Alice, GrantKind.Delegation, GrantMode.Write, holder);

        Assert.True(f.Open(FileA, AliceOther, OpenAccess.ReadWrite).CanProceed); // same client, another open owner
        Assert.Equal(BreakStatus.WouldBlock, f.Open(FileA, Bob, OpenAccess.Read).Status);

        await f.DisposeAsync();
        Assert.Equal(GrantState.Released, grant.State); // dropped with the engine
        Assert.Single(holder.Events); // only Bob's open broke it
    }

    [Fact]
    public async Task Exact_matcher_lets_another_open_owner_of_the_same_client_break_the_grant()
    {
        var f = new EngineFixture(matcher: OwnerMatchers.Exact);
        var holder = new RecordingHolder();
        f.Grant(FileA, Alice, GrantKind.Delegation, GrantMode.Write, holder);

        Assert.Equal(BreakStatus.WouldBlock, f.Open(FileA, AliceOther, OpenAccess.Read).Status);
        await f.DisposeAsync();
        Assert.Single(holder.Events);
    }

    [Fact]
    public async Task Same_group_opens_do_not_keep_the_client_from_a_write_delegation()
    {
        await using var f = new EngineFixture(matcher: OwnerMatchers.SameGroup);
        f.Open(FileA, AliceOther, OpenAccess.ReadWrite);
        Assert.True(f.TryGrant(FileA, Alice, GrantKind.Delegation, GrantMode.Write, new RecordingHolder()).IsGranted);
    }

    [Fact]
    public async Task Owners_in_group_zero_belong_to_no_group_and_match_only_themselves()
    {
        var f = new EngineFixture(matcher: OwnerMatchers.SameGroup);
        var holder = new RecordingHolder();
        var processA = new Owner(0, 100);
        f.Grant(FileA, processA, GrantKind.Lease, GrantMode.Write, holder);

        Assert.True(f.Open(FileA, processA, OpenAccess.Read).CanProceed);
        Assert.Equal(BreakStatus.WouldBlock, f.Open(FileA, new Owner(0, 200), OpenAccess.Read).Status);
        await f.DisposeAsync();
        Assert.Equal(BreakTarget.Downgrade, Assert.Single(holder.Events).Target);
    }

    [Fact]
    public async Task Anonymous_breaker_owns_nothing_and_breaks_everything()
    {
        var f = new EngineFixture(matcher: OwnerMatchers.SameGroup);
        var holder = new RecordingHolder();
        f.Grant(FileA, Alice, GrantKind.Delegation, GrantMode.Read, holder);
        f.Grant(FileA, Owner.Anonymous, GrantKind.Lease, GrantMode.Read, holder);

        Assert.Equal(BreakStatus.WouldBlock, f.Break(FileA, FileOperation.Truncate, Owner.Anonymous).Status);
        await f.DisposeAsync();
        Assert.Equal(2, holder.Events.Count);
    }

    [Fact]
    public async Task Custom_matcher_decides_who_is_who()
    {
        // A matcher that says every node in group 7 speaks for the whole cluster.
        var f = new EngineFixture(matcher: new ClusterMatcher());
        var holder = new RecordingHolder();
        f.Grant(FileA, Alice, GrantKind.Delegation, GrantMode.Read, holder);

        Assert.True(f.Break(FileA, FileOperation.Unlink, new Owner(7, 99)).CanProceed);
        Assert.Equal(BreakStatus.WouldBlock, f.Break(FileA, FileOperation.Unlink, Bob).Status);
        await f.DisposeAsync();
        Assert.Single(holder.Events);
    }

    private sealed class ClusterMatcher : IOwnerMatcher
    {
        public bool BreakerOwns(Owner breaker, Owner holder) => breaker.Group == 7 || breaker == holder;
    }
}
