using Leasehold.Testing;
using static Leasehold.Engine.Tests.EngineFixture;

namespace Leasehold.Engine.Tests;

/// <summary>Rule 7: what /proc/locks shows, as data.</summary>
public sealed class SnapshotTests
{
    [Fact]
    public async Task Snapshot_shows_each_grant_with_holder_state_deadline_waiting_breakers_and_grant_time()
    {
        await using var f = new EngineFixture();
        var holder = new RecordingHolder();
        var start = f.Clock.GetUtcNow();
        f.Grant(FileA, Alice, GrantKind.Lease, GrantMode.Write, holder);
        f.Grant(FileB, Bob, GrantKind.Layout, GrantMode.Shared, holder);
        var waiting = f.Engine.OpenAsync(FileA, Carol, OpenAccess.Write, BreakMode.Await).AsTask();
        f.Clock.Advance(TimeSpan.FromSeconds(10));

        var snapshot = f.Engine.Snapshot();

        var lease = Assert.Single(snapshot.Grants, g => g.File == FileA);
        Assert.Equal(new GrantSnapshot(FileA, GrantKind.Lease, GrantMode.Write, Alice, GrantState.Breaking, BreakTarget.Revoke, start + TimeSpan.FromSeconds(45), 1, start), lease);
        var layout = Assert.Single(snapshot.Grants, g => g.File == FileB);
        Assert.Equal(new GrantSnapshot(FileB, GrantKind.Layout, GrantMode.Shared, Bob, GrantState.Active, BreakTarget.None, null, 0, start), layout);
        Assert.Equal(new BreakerSnapshot(FileA, FileOperation.OpenWrite, Carol, 1), Assert.Single(snapshot.Breakers));
        Assert.False(waiting.IsCompleted);
    }
}
