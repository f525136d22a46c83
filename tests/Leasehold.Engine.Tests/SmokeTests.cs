using Leasehold.Testing;

namespace Leasehold.Engine.Tests;

public sealed class SmokeTests
{
    [Fact]
    public async Task Awaiting_writer_is_released_when_holder_returns_read_lease_from_its_notice()
    {
        await using var f = new EngineFixture();
        var holder = new RecordingHolder { OnBreakAction = (g, _) => { } };
        var grant = f.Grant(EngineFixture.FileA, EngineFixture.Alice, GrantKind.Lease, GrantMode.Read, holder);
        holder.OnBreakAction = (g, _) => f.Engine.Release(g);

        var open = f.Engine.OpenAsync(EngineFixture.FileA, EngineFixture.Bob, OpenAccess.Write, BreakMode.Await);
        var result = await open.AsTask().WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(BreakStatus.Proceed, result.Status);
        Assert.Equal(GrantState.Released, grant.State);
        Assert.Single(holder.Breaks);
    }
}
