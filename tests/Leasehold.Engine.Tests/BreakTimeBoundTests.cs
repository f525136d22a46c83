using Leasehold.Testing;
using static Leasehold.Engine.Tests.EngineFixture;

namespace Leasehold.Engine.Tests;

/// <summary>
/// A breaker that cannot wait long (a local process the kernel lets in when its lease-break-time runs out) bounds the
/// deadline of every grant it breaks: <see cref="LeaseEngine.BreakAsync(FileKey, FileOperation, Owner, BreakMode, TimeSpan, CancellationToken)"/>.
/// </summary>
public sealed class BreakTimeBoundTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Max_break_time_shortens_the_deadline_of_a_new_break()
    {
        await using var f = EngineFixture.Create(o => o.DelegationBreakTime = TimeSpan.FromSeconds(90));
        var holder = new RecordingHolder();
        var grant = f.Grant(FileA, Alice, GrantKind.Delegation, GrantMode.Read, holder);
        var start = f.Clock.GetUtcNow();

        var writer = f.Engine.BreakAsync(FileA, FileOperation.OpenWrite, Owner.Anonymous, BreakMode.Await, TimeSpan.FromSeconds(44));

        Assert.Equal(start + TimeSpan.FromSeconds(44), Assert.Single(f.Engine.Snapshot().Grants).Deadline);
        Assert.Equal(start + TimeSpan.FromSeconds(44), (await holder.WaitForAsync(1))[0].Deadline); // the holder hears the bounded deadline
        f.Clock.Advance(TimeSpan.FromSeconds(43.9));
        Assert.False(writer.IsCompleted);
        Assert.Equal(GrantState.Breaking, grant.State);

        f.Clock.Advance(TimeSpan.FromSeconds(0.1)); // the timer alone

        Assert.Equal(BreakStatus.Proceed, (await writer.AsTask().WaitAsync(Bound)).Status);
        Assert.Equal(GrantState.Revoked, grant.State);
    }

    [Fact]
    public async Task Max_break_time_pulls_in_an_already_pending_break()
    {
        await using var f = EngineFixture.Create(o => o.DelegationBreakTime = TimeSpan.FromSeconds(90));
        var holder = new RecordingHolder();
        var grant = f.Grant(FileA, Alice, GrantKind.Delegation, GrantMode.Read, holder);
        var start = f.Clock.GetUtcNow();
        var nfsWriter = f.Engine.OpenAsync(FileA, Bob, OpenAccess.Write, BreakMode.Await); // deadline start + 90 s
        f.Clock.Advance(TimeSpan.FromSeconds(10));

        var local = f.Engine.BreakAsync(FileA, FileOperation.OpenWrite, Owner.Anonymous, BreakMode.Await, TimeSpan.FromSeconds(5));

        Assert.Equal(start + TimeSpan.FromSeconds(15), Assert.Single(f.Engine.Snapshot().Grants).Deadline);
        f.Clock.Advance(TimeSpan.FromSeconds(4.9));
        Assert.Equal(GrantState.Breaking, grant.State);
        f.Clock.Advance(TimeSpan.FromSeconds(0.1));

        Assert.Equal(BreakStatus.Proceed, (await local.AsTask().WaitAsync(Bound)).Status);
        Assert.Equal(BreakStatus.Proceed, (await nfsWriter.AsTask().WaitAsync(Bound)).Status); // everyone waiting on it goes too
        Assert.Equal(GrantState.Revoked, grant.State);
        var events = await holder.WaitForAsync(2);
        Assert.Single(events, e => !e.Expired); // the pulled-in deadline is not a second recall
        Assert.True(events[1].Expired);
    }

    [Fact]
    public async Task Zero_max_break_time_revokes_at_once()
    {
        await using var f = EngineFixture.Create(o => o.DelegationBreakTime = TimeSpan.FromSeconds(90));
        var holder = new RecordingHolder();
        var fresh = f.Grant(FileA, Alice, GrantKind.Delegation, GrantMode.Read, holder);
        var pending = f.Grant(FileB, Alice, GrantKind.Delegation, GrantMode.Read, holder);
        var nfsWriter = f.Engine.OpenAsync(FileB, Bob, OpenAccess.Write, BreakMode.Await);
        Assert.Equal(GrantState.Breaking, pending.State);

        var onFresh = await f.Engine.BreakAsync(FileA, FileOperation.OpenWrite, Owner.Anonymous, BreakMode.NonBlocking, TimeSpan.Zero);
        var onPending = await f.Engine.BreakAsync(FileB, FileOperation.OpenWrite, Owner.Anonymous, BreakMode.NonBlocking, TimeSpan.Zero);

        Assert.Equal(BreakStatus.Proceed, onFresh.Status); // no clock movement: taken back in the call
        Assert.Equal(BreakStatus.Proceed, onPending.Status);
        Assert.Equal((GrantState.Revoked, GrantState.Revoked), (fresh.State, pending.State));
        Assert.Equal(BreakStatus.Proceed, (await nfsWriter.AsTask().WaitAsync(Bound)).Status);
        var expired = (await holder.WaitForAsync(3)).Where(e => e.Expired).ToList();
        Assert.Equal(2, expired.Count);
        Assert.All(expired, e => Assert.Equal(BreakTarget.Revoke, e.Target));
    }

    [Fact]
    public async Task A_longer_max_break_time_never_extends_a_deadline()
    {
        await using var f = EngineFixture.Create(o => o.DelegationBreakTime = TimeSpan.FromSeconds(20));
        var holder = new RecordingHolder();
        var grant = f.Grant(FileA, Alice, GrantKind.Delegation, GrantMode.Read, holder);
        var start = f.Clock.GetUtcNow();

        // Longer than the kind's break time: the kind's 20 s stands.
        Assert.Equal(BreakStatus.WouldBlock, (await f.Engine.BreakAsync(FileA, FileOperation.OpenWrite, Owner.Anonymous, BreakMode.NonBlocking, TimeSpan.FromSeconds(60))).Status);
        Assert.Equal(start + TimeSpan.FromSeconds(20), Assert.Single(f.Engine.Snapshot().Grants).Deadline);
        // A bound that pulled the deadline in to 8 s is not pushed out again by a later, looser one, nor by an unbounded breaker.
        Assert.Equal(BreakStatus.WouldBlock, (await f.Engine.BreakAsync(FileA, FileOperation.OpenWrite, Owner.Anonymous, BreakMode.NonBlocking, TimeSpan.FromSeconds(8))).Status);
        f.Clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(BreakStatus.WouldBlock, (await f.Engine.BreakAsync(FileA, FileOperation.OpenWrite, Owner.Anonymous, BreakMode.NonBlocking, TimeSpan.FromSeconds(15))).Status);
        Assert.Equal(BreakStatus.WouldBlock, f.Break(FileA, FileOperation.OpenWrite, Bob).Status);
        Assert.Equal(start + TimeSpan.FromSeconds(8), Assert.Single(f.Engine.Snapshot().Grants).Deadline);

        f.Clock.Advance(TimeSpan.FromSeconds(7));

        Assert.Equal(GrantState.Revoked, grant.State);
    }

    [Fact]
    public async Task Negative_max_break_time_is_refused()
    {
        await using var f = new EngineFixture();
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () =>
            await f.Engine.BreakAsync(FileA, FileOperation.OpenWrite, Owner.Anonymous, BreakMode.NonBlocking, TimeSpan.FromSeconds(-1)));
    }
}
