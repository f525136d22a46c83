using Leasehold.Testing;
using static Leasehold.Engine.Tests.EngineFixture;

namespace Leasehold.Engine.Tests;

/// <summary>
/// Giving node token rights back: a recall for another node's Need (breaks the grants that use them), a yield of unused
/// rights for a Want or a linger, and a fence when the node loses its standing. None of them takes a right a local open
/// or held change uses.
/// </summary>
public sealed class TokenRecallTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    private static readonly Owner OtherNode = new(0xC1, 2);

    private const TokenRights R = TokenRights.Read;
    private const TokenRights W = TokenRights.Write;
    private const TokenRights DR = TokenRights.ReadDelegation;
    private const TokenRights DW = TokenRights.WriteDelegation;

    [Fact]
    public async Task Recall_of_DR_recalls_a_read_delegation_keeps_new_grants_out_and_clears_DR_once_returned()
    {
        await using var f = new TokenFixture();
        f.Hold(FileA, TokenRights.All);
        var holder = new RecordingHolder();
        var grant = f.Grant(FileA, Alice, GrantKind.Delegation, GrantMode.Read, holder);

        var recall = f.Engine.RecallTokenRightsAsync(FileA, DR | DW, OtherNode, TimeSpan.FromSeconds(20)).AsTask();

        Assert.False(recall.IsCompleted);
        var sent = Assert.Single(await holder.WaitForAsync(1));
        Assert.Equal(BreakTarget.Revoke, sent.Target);
        Assert.Equal(f.Clock.GetUtcNow() + TimeSpan.FromSeconds(20), sent.Deadline); // the bound, not the 45 s break time
        Assert.Equal(TokenRights.All, f.Engine.TokenRightsOf(FileA)); // held until the grant is back

        // Yielding: a new read grant needs DR, so it goes back to the cluster (which refuses while the recall runs).
        f.Tokens.Answer = _ => TokenAnswer.Refused;
        Assert.Equal(GrantStatus.RefusedByAuthority, f.TryGrant(FileA, Bob, GrantKind.Lease, GrantMode.Read, new RecordingHolder()).Status);
        Assert.Equal([new TokenCall(FileA, DR, TokenStrength.Want, Wait: true)], f.Tokens.Calls);

        f.Engine.Release(grant);

        Assert.Equal(R | W, await recall.WaitAsync(Bound));
        Assert.Equal(R | W, f.Engine.TokenRightsOf(FileA));
    }

    [Fact]
    public async Task Recall_times_out_by_maxBreakTime_and_the_grant_is_revoked()
    {
        await using var f = new TokenFixture();
        f.Hold(FileA, TokenRights.All);
        var holder = new RecordingHolder();
        var grant = f.Grant(FileA, Alice, GrantKind.Delegation, GrantMode.Read, holder);

        var recall = f.Engine.RecallTokenRightsAsync(FileA, DR, OtherNode, TimeSpan.FromSeconds(3)).AsTask();
        await holder.WaitForAsync(1);
        f.Clock.Advance(TimeSpan.FromSeconds(3) - TimeSpan.FromTicks(1));
        Assert.False(recall.IsCompleted);

        f.Clock.Advance(TimeSpan.FromTicks(1)); // the holder never answers

        Assert.Equal(R | W | DW, await recall.WaitAsync(Bound));
        Assert.Equal(GrantState.Revoked, grant.State);
        Assert.Equal(BreakTarget.Revoke, (await holder.WaitForAsync(2))[1].Target);
        Assert.True((await holder.WaitForAsync(2))[1].Expired);
    }

    [Fact]
    public async Task Recall_of_DW_downgrades_a_write_lease_and_keeps_DR()
    {
        await using var f = new TokenFixture();
        f.Hold(FileA, TokenRights.All);
        var holder = new RecordingHolder();
        var grant = f.Grant(FileA, Alice, GrantKind.Lease, GrantMode.Write, holder);

        var recall = f.Engine.RecallTokenRightsAsync(FileA, DW, OtherNode, TimeSpan.FromSeconds(20)).AsTask();
        Assert.Equal(BreakTarget.Downgrade, Assert.Single(await holder.WaitForAsync(1)).Target);
        Assert.True(f.Engine.Downgrade(grant));

        Assert.Equal(R | W | DR, await recall.WaitAsync(Bound));
        Assert.Equal(GrantMode.Read, grant.Mode);
        Assert.Equal(GrantState.Active, grant.State);
    }

    [Fact]
    public async Task Recall_with_no_grant_to_break_completes_at_once()
    {
        await using var f = new TokenFixture();
        f.Hold(FileA, TokenRights.All);

        Assert.Equal(R | W, f.Engine.RecallTokenRightsAsync(FileA, TokenRights.Delegations, OtherNode, TimeSpan.FromSeconds(1)).Now());
        Assert.Equal(TokenRights.None, f.Engine.RecallTokenRightsAsync(FileB, TokenRights.Delegations, OtherNode, TimeSpan.FromSeconds(1)).Now());
    }

    [Fact]
    public async Task Recall_keeps_the_open_rights_local_opens_use()
    {
        await using var f = new TokenFixture();
        f.Hold(FileA, TokenRights.All);
        Assert.True(f.Open(FileA, Alice, OpenAccess.Write).CanProceed);

        Assert.Equal(W, f.Engine.RecallTokenRightsAsync(FileA, TokenRights.All, OtherNode, TimeSpan.FromSeconds(1)).Now());
        Assert.True(f.Open(FileA, Bob, OpenAccess.Write).CanProceed); // W is not yielding any more
        Assert.Empty(f.Tokens.Calls);
    }

    [Fact]
    public async Task Cancelled_recall_leaves_the_rights_held_and_no_longer_yielding()
    {
        await using var f = new TokenFixture();
        f.Hold(FileA, TokenRights.All);
        var holder = new RecordingHolder();
        var grant = f.Grant(FileA, Alice, GrantKind.Lease, GrantMode.Read, holder);
        using var cts = new CancellationTokenSource();

        var recall = f.Engine.RecallTokenRightsAsync(FileA, DR, OtherNode, TimeSpan.FromSeconds(20), cts.Token).AsTask();
        await holder.WaitForAsync(1);
        cts.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => recall.WaitAsync(Bound));
        Assert.Equal(TokenRights.All, f.Engine.TokenRightsOf(FileA));
        f.Engine.Release(grant);
        Assert.True(f.TryGrant(FileA, Bob, GrantKind.Lease, GrantMode.Read, new RecordingHolder()).IsGranted);
        Assert.Empty(f.Tokens.Calls);
    }

    [Fact]
    public async Task YieldUnusedTokenRights_keeps_W_while_a_write_open_exists()
    {
        await using var f = new TokenFixture();
        f.Hold(FileA, TokenRights.All);
        Assert.True(f.Open(FileA, Alice, OpenAccess.Write).CanProceed);

        Assert.Equal(W, f.Engine.YieldUnusedTokenRights(FileA, TokenRights.All));
        Assert.Equal(W, f.Engine.TokenRightsOf(FileA));

        f.Engine.Close(FileA, Alice, OpenAccess.Write);
        Assert.Equal(TokenRights.None, f.Engine.YieldUnusedTokenRights(FileA, TokenRights.All));
    }

    [Fact]
    public async Task YieldUnusedTokenRights_keeps_the_rights_of_a_live_grant_and_of_a_held_change()
    {
        await using var f = new TokenFixture();
        f.Hold(FileA, TokenRights.All);
        var grant = f.Grant(FileA, Alice, GrantKind.Delegation, GrantMode.Read, new RecordingHolder());
        var change = f.Engine.BeginChangeAsync(FileA, FileOperation.Link, Alice, BreakMode.NonBlocking).Now(); // Alice's own delegation stays
        Assert.True(change.CanProceed);

        Assert.Equal(W | DR, f.Engine.YieldUnusedTokenRights(FileA, TokenRights.All));

        change.Dispose();
        f.Engine.Release(grant);
        Assert.Equal(TokenRights.None, f.Engine.YieldUnusedTokenRights(FileA, TokenRights.All));
    }

    [Fact]
    public async Task TokenRightsInUse_counts_opens_grants_and_parked_breakers()
    {
        await using var f = new TokenFixture();
        f.Hold(FileA, TokenRights.All);
        Assert.True(f.Open(FileA, Alice, OpenAccess.Read).CanProceed);
        Assert.Equal(R, f.Engine.TokenRightsInUse(FileA));

        f.Hold(FileB, TokenRights.All);
        var grant = f.Grant(FileB, Alice, GrantKind.Delegation, GrantMode.Write, new RecordingHolder());
        Assert.Equal(DR | DW, f.Engine.TokenRightsInUse(FileB));
        var open = f.Engine.OpenAsync(FileB, Bob, OpenAccess.Write, BreakMode.Await).AsTask(); // parked behind the write delegation
        Assert.False(open.IsCompleted);
        Assert.Equal(W | DR | DW, f.Engine.TokenRightsInUse(FileB));

        f.Engine.Release(grant);
        await open.WaitAsync(Bound);
        Assert.Equal(W, f.Engine.TokenRightsInUse(FileB));
    }

    [Fact]
    public async Task FenceTokens_breaks_delegations_by_the_deadline_and_a_racing_SetTokenRights_fails()
    {
        await using var f = new TokenFixture();
        f.Hold(FileA, TokenRights.All);
        var holder = new RecordingHolder();
        var grant = f.Grant(FileA, Alice, GrantKind.Delegation, GrantMode.Read, holder);
        long before = f.Engine.TokenGeneration; // an acquisition in flight read this

        Assert.Equal(1, f.Engine.FenceTokens(TokenRights.Open, TimeSpan.FromSeconds(4)));

        var sent = Assert.Single(await holder.WaitForAsync(1));
        Assert.Equal(f.Clock.GetUtcNow() + TimeSpan.FromSeconds(4), sent.Deadline);
        Assert.Equal(R | W, f.Engine.TokenRightsOf(FileA));
        Assert.False(f.Engine.SetTokenRights(FileA, TokenRights.All, before));
        Assert.Equal(R | W, f.Engine.TokenRightsOf(FileA));

        f.Clock.Advance(TimeSpan.FromSeconds(4));
        Assert.Equal(GrantState.Revoked, grant.State);

        // Opens go on with the rights kept; a new delegation must ask the cluster.
        Assert.True(f.Open(FileA, Bob, OpenAccess.Read).CanProceed);
        Assert.Empty(f.Tokens.Calls);
        f.Tokens.Answer = _ => TokenAnswer.Refused;
        Assert.Equal(GrantStatus.RefusedByAuthority, f.TryGrant(FileA, Carol, GrantKind.Lease, GrantMode.Read, new RecordingHolder()).Status);
    }

    [Fact]
    public async Task FenceTokens_with_zero_time_revokes_at_once_and_keeping_none_makes_every_open_ask()
    {
        await using var f = new TokenFixture();
        f.Hold(FileA, TokenRights.All);
        f.Hold(FileB, TokenRights.All);
        var holder = new RecordingHolder();
        var a = f.Grant(FileA, Alice, GrantKind.Delegation, GrantMode.Write, holder);
        var b = f.Grant(FileB, Alice, GrantKind.Lease, GrantMode.Read, holder);

        Assert.Equal(2, f.Engine.FenceTokens(TokenRights.None, TimeSpan.Zero));

        Assert.Equal(GrantState.Revoked, a.State);
        Assert.Equal(GrantState.Revoked, b.State);
        Assert.Equal(TokenRights.None, f.Engine.TokenRightsOf(FileA));
        f.Tokens.Answer = _ => TokenAnswer.Refused;
        Assert.Equal(BreakStatus.WouldBlock, f.Open(FileA, Bob, OpenAccess.Read).Status);
        Assert.Equal([new TokenCall(FileA, R, TokenStrength.Need, Wait: false)], f.Tokens.Calls);
    }
}
