using Leasehold.Testing;
using static Leasehold.Engine.Tests.EngineFixture;

namespace Leasehold.Engine.Tests;

/// <summary>Rule 8: per-file state, re-entrant holders and a disposal that leaves nothing behind.</summary>
public sealed class LifecycleTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Dispose_fails_every_parked_breaker_and_leaves_no_timer()
    {
        var f = new EngineFixture();
        var holder = new RecordingHolder();
        f.Grant(FileA, Alice, GrantKind.Delegation, GrantMode.Read, holder);
        f.Grant(FileB, Alice, GrantKind.Lease, GrantMode.Write, holder);
        var first = f.Engine.OpenAsync(FileA, Bob, OpenAccess.Write, BreakMode.Await).AsTask();
        var second = f.Engine.BreakAsync(FileB, FileOperation.Truncate, Bob, BreakMode.Await).AsTask();
        Assert.Equal(2, f.Clock.ActiveTimers);

        await f.Engine.DisposeAsync();

        var error = await Assert.ThrowsAsync<ObjectDisposedException>(() => first.WaitAsync(Bound));
        Assert.Contains("disposed while this OpenWrite", error.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => second.WaitAsync(Bound));
        Assert.Equal(0, f.Clock.LiveTimers);
        Assert.Equal(0, f.Engine.TrackedFiles);
    }

    [Fact]
    public async Task Calls_after_dispose_fail_clearly_and_releases_are_harmless()
    {
        var f = new EngineFixture();
        var grant = f.Grant(FileA, Alice, GrantKind.Lease, GrantMode.Read, new RecordingHolder());
        await f.DisposeAsync();

        Assert.Throws<ObjectDisposedException>(() => f.TryGrant(FileA, Bob, GrantKind.Lease, GrantMode.Read, new RecordingHolder()));
        Assert.Throws<ObjectDisposedException>(() => f.Break(FileA, FileOperation.Unlink, Bob));
        Assert.Throws<ObjectDisposedException>(() => f.Engine.Snapshot());
        f.Engine.Release(grant);
        f.Engine.Close(FileA, Bob, OpenAccess.Read);
        await f.Engine.DisposeAsync();
    }

    [Fact]
    public async Task Holder_that_throws_does_not_keep_other_holders_from_hearing_of_the_break()
    {
        var f = new EngineFixture();
        var faulty = new RecordingHolder("faulty") { OnBreakAction = (_, _) => throw new InvalidOperationException("holder bug") };
        var good = new RecordingHolder("good");
        f.Grant(FileA, Alice, GrantKind.Delegation, GrantMode.Read, faulty);
        f.Grant(FileA, Bob, GrantKind.Delegation, GrantMode.Read, good);

        Assert.Equal(BreakStatus.WouldBlock, f.Break(FileA, FileOperation.Unlink, Carol).Status);
        await f.DisposeAsync();

        Assert.Single(good.Events);
    }

    [Fact]
    public async Task A_break_pending_on_one_file_does_not_touch_another()
    {
        await using var f = new EngineFixture();
        var holder = new RecordingHolder();
        f.Grant(FileA, Alice, GrantKind.Lease, GrantMode.Read, holder);
        var other = f.Grant(FileB, Alice, GrantKind.Lease, GrantMode.Read, holder);

        Assert.Equal(BreakStatus.WouldBlock, f.Open(FileA, Bob, OpenAccess.Write).Status);

        Assert.Equal(GrantState.Active, other.State);
        Assert.True(f.TryGrant(FileB, Carol, GrantKind.Lease, GrantMode.Read, holder).IsGranted);
        Assert.True(f.Open(FileB, Bob, OpenAccess.Read).CanProceed);
    }

    [Fact]
    public async Task Holders_release_from_inside_notices_while_many_breakers_wait_concurrently()
    {
        await using var f = new EngineFixture();
        const int files = 64;
        var holder = new RecordingHolder();
        holder.OnBreakAction = (g, _) => f.Engine.Release(g);
        for (int i = 0; i < files; i++)
            f.Grant(FileKey.From((ulong)i + 100), Alice, GrantKind.Delegation, GrantMode.Write, holder);

        var breakers = Enumerable.Range(0, files).Select(i => Task.Run(async () =>
        {
            var file = FileKey.From((ulong)i + 100);
            var result = await f.Engine.OpenAsync(file, Bob, OpenAccess.Read, BreakMode.Await);
            f.Engine.Close(file, Bob, OpenAccess.Read);
            return result;
        })).ToArray();

        var results = await Task.WhenAll(breakers).WaitAsync(Bound);
        Assert.All(results, r => Assert.Equal(BreakStatus.Proceed, r.Status));
        Assert.Empty(f.Engine.Snapshot().Grants);
        Assert.Equal(files, f.Engine.TrackedFiles); // each recalled file is remembered for its recall window...
        f.Clock.Advance(TimeSpan.FromSeconds(30));
        f.SweepIdleStates();
        Assert.Equal(0, f.Engine.TrackedFiles); // ...and forgotten, timers and all, when it ends
        Assert.Equal(1, f.Clock.LiveTimers); // only the disarmed sweep timer
        Assert.Equal(0, f.Clock.ActiveTimers);
    }
}
