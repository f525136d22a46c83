using Leasehold.Nfs4.Client;

namespace Leasehold.IntegrationTests.Recovery;

/// <summary>
/// The Linux client's recovery after a server restart, step by step: the same co_ownerid, OPEN CLAIM_PREVIOUS of the
/// file it had open, RECLAIM_COMPLETE, then the write that was pending, through the reclaimed stateid. Before issue 10
/// the reclaim was NFS4ERR_NO_GRACE and the client had to open afresh.
/// </summary>
public sealed class OpenReclaimTests(RecoveryServerFixture fx) : IClassFixture<RecoveryServerFixture>
{
    [Fact]
    public async Task A_client_open_across_a_restart_reclaims_it_and_its_pending_write_lands()
    {
        string owner = ServerFixture.NewName("appender");
        var file = await fx.NewFileAsync("appended");
        await using (var before = await fx.ConnectAsAsync(owner))
        {
            var open = (await before.OpenAsync(file, ShareAccess.Write).Bounded()).ValueOrThrow();
            Assert.True((await before.WriteAsync(file, open.StateId, 0, ServerFixture.Bytes("1\n")).Bounded()).IsOk);
            await fx.RestartAsync();
        }

        await using var after = await fx.ConnectAsAsync(owner, reclaimComplete: false);
        var reclaimed = (await Reclaim.OpenAsync(after, file, ShareAccess.Write)).ValueOrThrow();
        Assert.Equal(NfsStat4.Ok, await Reclaim.CompleteAsync(after));
        Assert.False(fx.InGrace);
        Assert.True((await after.WriteAsync(file, reclaimed.StateId, 2, ServerFixture.Bytes("2\n")).Bounded()).IsOk);
        Assert.True((await after.CloseAsync(file, reclaimed.StateId).Bounded()).IsOk);

        var data = (await fx.Session.ReadAsync(file, StateId.Anonymous, 0, 100).Bounded()).ValueOrThrow();
        Assert.Equal("1\n2\n", System.Text.Encoding.UTF8.GetString(data.Data.Span));
    }
}
