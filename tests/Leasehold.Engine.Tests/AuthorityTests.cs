using System.Collections.Concurrent;
using Leasehold.Testing;
using static Leasehold.Engine.Tests.EngineFixture;

namespace Leasehold.Engine.Tests;

/// <summary>Rule 6: every grant passes through the authority, which may veto or delay it; the local table still records it.</summary>
public sealed class AuthorityTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Grant_vetoed_by_the_authority_is_not_recorded()
    {
        var authority = new ScriptedAuthority { Verdict = _ => false };
        await using var f = new EngineFixture(authority: authority);

        Assert.Equal(GrantStatus.RefusedByAuthority, f.TryGrant(FileA, Alice, GrantKind.Delegation, GrantMode.Read, new RecordingHolder()).Status);
        Assert.Empty(f.Engine.Snapshot().Grants);
        Assert.Single(authority.Asked);
    }

    [Fact]
    public async Task Authority_may_take_its_time_and_the_grant_waits_for_it()
    {
        var answer = new TaskCompletionSource<bool>();
        var authority = new ScriptedAuthority { Pending = answer };
        await using var f = new EngineFixture(authority: authority);

        var pending = f.Engine.GrantAsync(new GrantRequest(FileA, Alice, GrantKind.Lease, GrantMode.Read, new RecordingHolder())).AsTask();
        Assert.False(pending.IsCompleted);
        Assert.Empty(f.Engine.Snapshot().Grants);

        answer.SetResult(true);
        var result = await pending.WaitAsync(Bound);
        Assert.True(result.IsGranted);
        Assert.Single(f.Engine.Snapshot().Grants);
    }

    [Fact]
    public async Task Local_conflict_that_appears_while_the_authority_deliberates_still_refuses_and_the_authority_hears_of_it()
    {
        var answer = new TaskCompletionSource<bool>();
        var authority = new ScriptedAuthority { Pending = answer };
        await using var f = new EngineFixture(authority: authority);

        var pending = f.Engine.GrantAsync(new GrantRequest(FileA, Alice, GrantKind.Lease, GrantMode.Read, new RecordingHolder())).AsTask();
        f.Open(FileA, Bob, OpenAccess.Write); // nothing granted yet, so nothing to break
        answer.SetResult(true);

        Assert.Equal(GrantStatus.ConflictingOpen, (await pending.WaitAsync(Bound)).Status);
        var ended = Assert.Single(authority.Ended);
        Assert.Null(ended.Grant);
    }

    [Fact]
    public async Task Authority_hears_when_a_grant_is_released_or_revoked()
    {
        var authority = new ScriptedAuthority();
        await using var f = EngineFixture.Create(o => o.LeaseBreakTime = TimeSpan.Zero, authority: authority);
        var holder = new RecordingHolder();
        var released = f.Grant(FileA, Alice, GrantKind.Lease, GrantMode.Read, holder);
        var revoked = f.Grant(FileB, Alice, GrantKind.Lease, GrantMode.Read, holder);

        f.Engine.Release(released);
        f.Break(FileB, FileOperation.Truncate, Bob);

        Assert.Equal([released, revoked], authority.Ended.Select(e => e.Grant));
        f.Engine.Release(revoked); // acknowledging a revoked grant is not a second end
        Assert.Equal(2, authority.Ended.Count);
    }

    [Fact]
    public async Task Another_node_breaks_a_local_grant_by_breaking_with_its_own_identity()
    {
        await using var f = new EngineFixture();
        var holder = new RecordingHolder();
        var grant = f.Grant(FileA, Alice, GrantKind.Delegation, GrantMode.Write, holder);
        holder.OnBreakAction = (g, _) => f.Engine.Release(g);
        var remoteNode = new Owner(0xC1, 0);

        var result = await f.Engine.BreakAsync(FileA, FileOperation.OpenWrite, remoteNode, BreakMode.Await).AsTask().WaitAsync(Bound);

        Assert.True(result.CanProceed);
        Assert.Equal(GrantState.Released, grant.State);
    }

    private sealed class ScriptedAuthority : IGrantAuthority
    {
        public Func<GrantRequest, bool> Verdict { get; init; } = _ => true;

        public TaskCompletionSource<bool>? Pending { get; init; }

        public ConcurrentQueue<GrantRequest> Asked { get; } = new();

        public List<(GrantRequest Request, Grant? Grant)> Ended { get; } = [];

        public ValueTask<bool> AdmitAsync(GrantRequest request, CancellationToken cancellationToken)
        {
            Asked.Enqueue(request);
            return Pending is null ? new ValueTask<bool>(Verdict(request)) : new ValueTask<bool>(Pending.Task);
        }

        public void OnGrantEnded(GrantRequest request, Grant? grant)
        {
            lock (Ended)
                Ended.Add((request, grant));
        }
    }
}
