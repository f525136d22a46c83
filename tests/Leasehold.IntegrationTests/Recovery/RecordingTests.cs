using Leasehold.Nfs4.Client;
using Leasehold.Nfs4.Client.Rpc;

namespace Leasehold.IntegrationTests.Recovery;

/// <summary>
/// When a client is in the stable records (the SQLite database in the state directory): written at its first global
/// RECLAIM_COMPLETE, before the reply (knfsd records NFSv4.1 clients at the same point), removed when it goes away
/// (DESTROY_CLIENTID, lease expiry), and not removed by an unconfirmed record of the same name being replaced.
/// </summary>
public sealed class RecordingTests(RecoveryServerFixture fx) : IClassFixture<RecoveryServerFixture>
{
    [Fact]
    public async Task A_client_is_recorded_at_RECLAIM_COMPLETE_and_not_before()
    {
        string owner = ServerFixture.NewName("recorded");
        await using var client = await fx.ConnectAsAsync(owner, reclaimComplete: false);
        Assert.False(fx.Records.ContainsKey(owner));

        Assert.Equal(NfsStat4.Ok, await Reclaim.CompleteAsync(client));
        Assert.Equal("sys:0", fx.Records[owner]);
        Assert.Equal(NfsStat4.CompleteAlready, await Reclaim.CompleteAsync(client));
    }

    [Fact]
    public async Task The_principal_is_recorded_as_the_AUTH_SYS_uid()
    {
        string owner = ServerFixture.NewName("user");
        await using var client = await fx.ConnectAsAsync(owner, credentials: RpcAuth.Sys(1000, 1000));
        Assert.Equal("sys:1000", fx.Records[owner]);
    }

    [Fact]
    public async Task DESTROY_CLIENTID_removes_the_record()
    {
        string owner = ServerFixture.NewName("leaving");
        var client = await fx.ConnectAsAsync(owner);
        Assert.True(fx.Records.ContainsKey(owner));

        await client.DisposeAsync(); // DESTROY_SESSION, DESTROY_CLIENTID
        Assert.False(fx.Records.ContainsKey(owner));
    }

    [Fact]
    public async Task Lease_expiry_removes_the_record()
    {
        string owner = ServerFixture.NewName("silent");
        await using var client = await fx.ConnectAsAsync(owner);
        Assert.True(fx.Records.ContainsKey(owner));

        await fx.AdvanceAsync(fx.LeaseTime * 1.5); // renews the root session only
        Assert.Equal(NfsStat4.BadSession, await client.RenewAsync().Bounded());
        Assert.False(fx.Records.ContainsKey(owner));
    }

    [Fact]
    public async Task An_unconfirmed_record_of_the_same_name_replaced_does_not_remove_the_confirmed_clients_record()
    {
        string owner = ServerFixture.NewName("confirmed");
        await using var client = await fx.ConnectAsAsync(owner);

        // The same name with new verifiers (a client that rebooted, twice, without CREATE_SESSION): §18.35.5 case 4
        // makes an unconfirmed record, and case 5 replaces it with another one.
        for (ulong verifier = 1; verifier <= 2; verifier++)
        {
            using var exchange = new CompoundBuilder("exchange_id").ExchangeId(new ExchangeIdArgs(verifier, ServerFixture.Bytes(owner),
                ExchangeIdFlags.None, new ImplementationId("leasehold.dev", "test", default)));
            Assert.Equal(NfsStat4.Ok, (await client.SendAsync(exchange).Bounded()).Status);
        }
        Assert.True(fx.Records.ContainsKey(owner));
        Assert.Equal(NfsStat4.Ok, await client.RenewAsync().Bounded()); // and the confirmed client is untouched
    }
}
