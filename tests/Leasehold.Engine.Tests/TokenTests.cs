using Leasehold.Testing;
using static Leasehold.Engine.Tests.EngineFixture;

namespace Leasehold.Engine.Tests;

/// <summary>
/// A cluster node's entry points: each checks the node token right it needs under the file lock and, lacking it, asks
/// <see cref="IFileTokens"/> outside the lock (Need for opens, breaks and changes; Want for grants), a bounded number of times.
/// </summary>
public sealed class TokenTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    private const TokenRights R = TokenRights.Read;
    private const TokenRights W = TokenRights.Write;
    private const TokenRights DR = TokenRights.ReadDelegation;
    private const TokenRights DW = TokenRights.WriteDelegation;

    [Fact]
    public async Task Open_for_write_lacking_W_asks_without_waiting_and_would_block_while_contended()
    {
        await using var f = new TokenFixture();
        f.Tokens.Answer = _ => TokenAnswer.Contended;

        var result = f.Open(FileA, Alice, OpenAccess.Write);

        Assert.Equal(BreakStatus.WouldBlock, result.Status);
        Assert.Null(result.Deadline);
        Assert.Equal([new TokenCall(FileA, W, TokenStrength.Need, Wait: false)], f.Tokens.Calls);
        Assert.Equal(TokenRights.None, f.Engine.TokenRightsInUse(FileA)); // nothing was registered
    }

    [Fact]
    public async Task Open_after_SetTokenRights_proceeds_without_asking()
    {
        await using var f = new TokenFixture();
        f.Tokens.Answer = _ => TokenAnswer.Contended;
        Assert.Equal(BreakStatus.WouldBlock, f.Open(FileA, Alice, OpenAccess.ReadWrite).Status);

        Assert.True(f.Engine.SetTokenRights(FileA, R | W, f.Engine.TokenGeneration));

        Assert.True(f.Open(FileA, Alice, OpenAccess.ReadWrite).CanProceed);
        Assert.Single(f.Tokens.Calls); // the first attempt only
        Assert.Equal(R | W, f.Engine.TokenRightsInUse(FileA));
    }

    [Fact]
    public async Task Held_answer_lets_the_open_proceed_and_later_opens_stay_local()
    {
        await using var f = new TokenFixture();

        Assert.True(f.Open(FileA, Alice, OpenAccess.Read).CanProceed);
        Assert.True(f.Open(FileA, Bob, OpenAccess.Read).CanProceed);

        Assert.Equal([new TokenCall(FileA, R, TokenStrength.Need, Wait: false)], f.Tokens.Calls);
        Assert.Equal(R, f.Engine.TokenRightsOf(FileA));
    }

    [Fact]
    public async Task Refused_open_would_block()
    {
        await using var f = new TokenFixture();
        f.Tokens.Answer = _ => TokenAnswer.Refused;

        Assert.Equal(BreakStatus.WouldBlock, f.Open(FileA, Alice, OpenAccess.Read).Status);
        Assert.Equal(TokenRights.None, f.Engine.TokenRightsInUse(FileA));
    }

    [Fact]
    public async Task Awaiting_open_waits_for_the_cluster_and_then_registers()
    {
        await using var f = new TokenFixture();
        var answer = new TaskCompletionSource<TokenAnswer>();
        f.Tokens.Pending = answer;

        var open = f.Engine.OpenAsync(FileA, Alice, OpenAccess.Write, BreakMode.Await).AsTask();
        Assert.False(open.IsCompleted);
        Assert.Equal([new TokenCall(FileA, W, TokenStrength.Need, Wait: true)], f.Tokens.Calls);

        answer.SetResult(TokenAnswer.Held);

        Assert.True((await open.WaitAsync(Bound)).CanProceed);
        Assert.Equal(W, f.Engine.TokenRightsInUse(FileA));
        Assert.Single(f.Tokens.Calls);
    }

    [Fact]
    public async Task A_right_taken_again_each_time_ends_in_would_block_after_a_bounded_number_of_asks()
    {
        await using var f = new TokenFixture();
        f.Tokens.SetOnHeld = false; // "held", yet a yield has always taken it again by the time the engine looks

        Assert.Equal(BreakStatus.WouldBlock, f.Open(FileA, Alice, OpenAccess.Read).Status);
        Assert.Equal(8, f.Tokens.Calls.Count);

        var change = await f.Engine.BeginChangeAsync(FileA, FileOperation.Truncate, Alice, BreakMode.Await).AsTask().WaitAsync(Bound);
        Assert.False(change.CanProceed);
        Assert.Equal(16, f.Tokens.Calls.Count);
    }

    [Fact]
    public async Task Stale_generation_is_ignored()
    {
        await using var f = new TokenFixture();
        long before = f.Engine.TokenGeneration;
        f.Engine.FenceTokens(TokenRights.Open, TimeSpan.Zero);

        Assert.Equal(before + 1, f.Engine.TokenGeneration);
        Assert.False(f.Engine.SetTokenRights(FileA, TokenRights.All, before));
        Assert.Equal(TokenRights.None, f.Engine.TokenRightsOf(FileA));
        Assert.True(f.Engine.SetTokenRights(FileA, R, before + 1));
        Assert.Equal(R, f.Engine.TokenRightsOf(FileA));
    }

    [Fact]
    public async Task Break_fast_path_with_tokens_on_asks_for_read()
    {
        await using var f = new TokenFixture();
        f.Tokens.Answer = _ => TokenAnswer.Contended;

        var result = f.Engine.BreakAsync(FileA, FileOperation.OpenRead, Bob, BreakMode.NonBlocking).Now();

        Assert.Equal(BreakStatus.WouldBlock, result.Status);
        Assert.Equal([new TokenCall(FileA, R, TokenStrength.Need, Wait: false)], f.Tokens.Calls);
    }

    [Fact]
    public async Task Break_for_a_change_asks_for_write_and_proceeds_once_held()
    {
        await using var f = new TokenFixture();
        f.Hold(FileA, R);

        Assert.True(f.Engine.BreakAsync(FileA, FileOperation.OpenRead, Bob, BreakMode.NonBlocking).Now().CanProceed);
        Assert.Empty(f.Tokens.Calls);
        Assert.True(f.Engine.BreakAsync(FileA, FileOperation.SetAttributes, Bob, BreakMode.NonBlocking).Now().CanProceed);
        Assert.Equal([new TokenCall(FileA, W, TokenStrength.Need, Wait: false)], f.Tokens.Calls);
    }

    [Fact]
    public async Task Without_tokens_a_break_on_an_untracked_file_creates_no_state()
    {
        await using var f = new EngineFixture();

        Assert.True(f.Break(FileA, FileOperation.OpenRead, Bob).CanProceed);
        Assert.Equal(0, f.Engine.TrackedFiles);
        Assert.Equal(TokenRights.None, f.Engine.TokenRightsOf(FileA));
    }

    [Fact]
    public async Task Change_lacking_W_that_is_refused_holds_nothing()
    {
        await using var f = new TokenFixture();
        f.Hold(FileA, R | DR);
        f.Tokens.Answer = _ => TokenAnswer.Refused;

        using (var change = f.Engine.BeginChangeAsync(FileA, FileOperation.Truncate, Alice, BreakMode.NonBlocking).Now())
            Assert.Equal(BreakStatus.WouldBlock, change.Result.Status);

        Assert.Equal([new TokenCall(FileA, W, TokenStrength.Need, Wait: false)], f.Tokens.Calls);
        Assert.Empty(f.Engine.Snapshot().Breakers); // no FileChange is held
        Assert.True(f.TryGrant(FileA, Bob, GrantKind.Delegation, GrantMode.Read, new RecordingHolder()).IsGranted);
    }

    [Fact]
    public async Task Grant_lacking_DR_asks_Want_and_a_refusal_is_RefusedByAuthority()
    {
        await using var f = new TokenFixture();
        f.Hold(FileA, R | W);
        f.Tokens.Answer = _ => TokenAnswer.Refused;

        var result = f.TryGrant(FileA, Alice, GrantKind.Delegation, GrantMode.Read, new RecordingHolder());

        Assert.Equal(GrantStatus.RefusedByAuthority, result.Status);
        Assert.Equal([new TokenCall(FileA, DR, TokenStrength.Want, Wait: true)], f.Tokens.Calls);
        var ended = Assert.Single(f.Authority.Ended);
        Assert.Null(ended.Grant);
        Assert.Equal(Alice, ended.Request.Owner);
        Assert.Empty(f.Engine.Snapshot().Grants);
    }

    [Fact]
    public async Task Write_grant_asks_for_DW_and_is_granted_once_held()
    {
        await using var f = new TokenFixture();
        f.Hold(FileA, R | W | DR);

        var grant = f.Grant(FileA, Alice, GrantKind.Delegation, GrantMode.Write, new RecordingHolder());

        Assert.Equal([new TokenCall(FileA, DW, TokenStrength.Want, Wait: true)], f.Tokens.Calls);
        Assert.Equal(TokenRights.All, f.Engine.TokenRightsOf(FileA));
        Assert.Equal(TokenRights.Delegations, f.Engine.TokenRightsInUse(FileA));
        Assert.Empty(f.Authority.Ended);
        f.Engine.Release(grant);
        Assert.Equal(grant, Assert.Single(f.Authority.Ended).Grant);
    }

    [Fact]
    public async Task Contended_grant_is_refused_too()
    {
        await using var f = new TokenFixture();
        f.Tokens.Answer = _ => TokenAnswer.Contended;

        Assert.Equal(GrantStatus.RefusedByAuthority, f.TryGrant(FileA, Alice, GrantKind.Lease, GrantMode.Read, new RecordingHolder()).Status);
        Assert.Single(f.Authority.Ended);
    }

    [Fact]
    public async Task Grant_whose_right_is_taken_again_each_time_is_refused_after_a_bounded_number_of_asks()
    {
        await using var f = new TokenFixture();
        f.Tokens.SetOnHeld = false;

        Assert.Equal(GrantStatus.RefusedByAuthority, f.TryGrant(FileA, Alice, GrantKind.Delegation, GrantMode.Read, new RecordingHolder()).Status);
        Assert.Equal(8, f.Tokens.Calls.Count);
        Assert.Single(f.Authority.Ended); // one admission, one end
    }

    [Fact]
    public async Task Grant_waits_for_a_slow_cluster()
    {
        await using var f = new TokenFixture();
        var answer = new TaskCompletionSource<TokenAnswer>();
        f.Tokens.Pending = answer;

        var pending = f.Engine.GrantAsync(new GrantRequest(FileA, Alice, GrantKind.Delegation, GrantMode.Read, new RecordingHolder())).AsTask();
        Assert.False(pending.IsCompleted);
        answer.SetResult(TokenAnswer.Held);

        Assert.True((await pending.WaitAsync(Bound)).IsGranted);
        Assert.Equal(DR, f.Engine.TokenRightsOf(FileA));
    }

    [Fact]
    public async Task Cancelled_acquisition_ends_the_authoritys_admission()
    {
        await using var f = new TokenFixture();
        var answer = new TaskCompletionSource<TokenAnswer>();
        f.Tokens.Pending = answer;

        var pending = f.Engine.GrantAsync(new GrantRequest(FileA, Alice, GrantKind.Delegation, GrantMode.Read, new RecordingHolder())).AsTask();
        answer.SetCanceled();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending.WaitAsync(Bound));
        Assert.Null(Assert.Single(f.Authority.Ended).Grant);
    }
}
