using Leasehold.Nfs4.Client;
using Leasehold.Nfs4.Client.Rpc;

namespace Leasehold.IntegrationTests;

/// <summary>
/// DESTROY_CLIENTID (RFC 8881 §18.50.3) is NFS4ERR_CLIENTID_BUSY while the client has sessions, opens or locks under
/// an unexpired lease: the client must give its state up first, and nothing it holds vanishes behind another client's
/// back.
/// </summary>
public sealed class DestroyClientIdTests(ServerFixture fx) : IClassFixture<ServerFixture>
{
    /// <summary>
    /// A client with "f" created and open (BOTH, deny WRITE) and a write lock on its first 10 bytes. It binds no back
    /// channel, so it holds no write delegation, which would keep it busy after its last CLOSE.
    /// </summary>
    private async Task<(Nfs4Session Client, OpenedFile Open, LockResult Lock, FileHandle Root, string Name)> HolderAsync()
    {
        var client = await fx.ConnectAsync(options: new Nfs4SessionOptions { BackChannel = false });
        var root = await fx.RootAsync();
        string name = ServerFixture.NewName("f");
        var open = (await client.OpenAsync(root, name, ShareAccess.Both, OpenHow.Unchecked(), ShareDeny.Write).Bounded()).ValueOrThrow();
        var locked = await client.LockAsync(open.FileHandle, LockType.Write, 0, 10, Locker.FromOpen(open.StateId, client.NewOwner("lock"))).Bounded();
        Assert.Equal(NfsStat4.Ok, locked.Status);
        return (client, open, locked, root, name);
    }

    [Fact]
    public async Task A_client_holding_an_open_and_a_lock_is_CLIENTID_BUSY_and_keeps_both()
    {
        var held = await HolderAsync();
        await using var client = held.Client;
        var (open, root, name) = (held.Open, held.Root, held.Name);
        await using var other = await fx.ConnectAsync();

        // With its session alive...
        Assert.Equal(NfsStat4.ClientIdBusy, await client.DestroyClientIdAsync().Bounded());
        // ...and with no session left.
        Assert.Equal(NfsStat4.Ok, await client.DestroySessionAsync().Bounded());
        Assert.Equal(NfsStat4.ClientIdBusy, await client.DestroyClientIdAsync().Bounded());

        // The share reservation and the lock are still in force.
        Assert.Equal(NfsStat4.ShareDenied, (await other.OpenAsync(root, name, ShareAccess.Write).Bounded()).Status);
        var test = await other.LockTestAsync(open.FileHandle, LockType.Read, 5, 1, other.NewOwner("probe")).Bounded();
        Assert.Equal(NfsStat4.Denied, test.Status);
        Assert.Equal(client.ClientId, test.Denied!.Owner.ClientId);
    }

    [Fact]
    public async Task After_the_client_unlocks_and_closes_everything_it_may_go()
    {
        var held = await HolderAsync();
        await using var client = held.Client;
        var (open, locked, root, name) = (held.Open, held.Lock, held.Root, held.Name);
        await using var other = await fx.ConnectAsync();
        Assert.Equal(NfsStat4.Ok, await client.DestroySessionAsync().Bounded());
        Assert.Equal(NfsStat4.ClientIdBusy, await client.DestroyClientIdAsync().Bounded());

        // It comes back with a new session and gives its state up.
        Assert.True((await client.CreateSessionAsync().Bounded()).IsOk);
        Assert.True((await client.UnlockAsync(open.FileHandle, LockType.Write, locked.StateId, 0, 10).Bounded()).IsOk);
        // Still an open: busy.
        Assert.Equal(NfsStat4.Ok, await client.DestroySessionAsync().Bounded());
        Assert.Equal(NfsStat4.ClientIdBusy, await client.DestroyClientIdAsync().Bounded());
        Assert.True((await client.CreateSessionAsync().Bounded()).IsOk);
        Assert.True((await client.CloseAsync(open.FileHandle, open.StateId).Bounded()).IsOk);
        // Sessions alone still count.
        Assert.Equal(NfsStat4.ClientIdBusy, await client.DestroyClientIdAsync().Bounded());
        Assert.Equal(NfsStat4.Ok, await client.DestroySessionAsync().Bounded());

        Assert.Equal(NfsStat4.Ok, await client.DestroyClientIdAsync().Bounded());
        Assert.Equal(NfsStat4.StaleClientId, await client.DestroyClientIdAsync().Bounded());
        var opened = (await other.OpenAsync(root, name, ShareAccess.Write).Bounded()).ValueOrThrow();
        Assert.True((await other.CloseAsync(opened.FileHandle, opened.StateId).Bounded()).IsOk);
    }

    [Fact]
    public async Task Another_principal_cannot_replace_a_client_record_that_holds_opens()
    {
        // §18.35.5 case 3: the same co_ownerid from another principal is CLID_INUSE while the record has state, and
        // opens are state even when no session is left.
        string owner = ServerFixture.NewName("owner");
        await using var client = await fx.ConnectAsync(options: new Nfs4SessionOptions { OwnerId = owner });
        var root = await fx.RootAsync();
        string name = ServerFixture.NewName("f");
        var open = (await client.OpenAsync(root, name, ShareAccess.Both, OpenHow.Unchecked(), ShareDeny.Write).Bounded()).ValueOrThrow();
        Assert.Equal(NfsStat4.Ok, await client.DestroySessionAsync().Bounded());

        var refused = await Assert.ThrowsAsync<Nfs4StatusException>(() =>
            fx.ConnectAsync(RpcAuth.Sys(1000, 1000), new Nfs4SessionOptions { OwnerId = owner }));
        Assert.Equal(NfsStat4.ClidInUse, refused.Status);

        await using var other = await fx.ConnectAsync();
        Assert.Equal(NfsStat4.ShareDenied, (await other.OpenAsync(root, name, ShareAccess.Write).Bounded()).Status);
        Assert.True((await client.CreateSessionAsync().Bounded()).IsOk);
        Assert.True((await client.CloseAsync(open.FileHandle, open.StateId).Bounded()).IsOk);
    }

    [Fact]
    public async Task A_client_with_no_state_and_no_session_is_destroyed_at_once()
    {
        await using var client = await fx.ConnectAsync();
        Assert.Equal(NfsStat4.Ok, await client.DestroySessionAsync().Bounded());
        Assert.Equal(NfsStat4.Ok, await client.DestroyClientIdAsync().Bounded());
        Assert.Equal(NfsStat4.StaleClientId, (await client.CreateSessionAsync().Bounded()).Status);
    }
}

/// <summary>
/// A client refused by DESTROY_CLIENTID because it holds state still loses that state with its lease (§8.3), as any
/// silent client does with courtesy clients off; its client ID is then unknown.
/// </summary>
public sealed class DestroyClientIdExpiryTests(NoCourtesyServerFixture fx) : IClassFixture<NoCourtesyServerFixture>
{
    [Fact]
    public async Task A_busy_client_that_stops_renewing_loses_its_state_with_its_lease()
    {
        await using var holder = await fx.ConnectAsync();
        await using var other = await fx.ConnectAsync();
        var root = (await other.LookupPathAsync("").Bounded()).ValueOrThrow();
        string name = ServerFixture.NewName("f");
        var open = (await holder.OpenAsync(root, name, ShareAccess.Both, OpenHow.Unchecked(), ShareDeny.Write).Bounded()).ValueOrThrow();
        Assert.Equal(NfsStat4.Ok, (await holder.LockAsync(open.FileHandle, LockType.Write, 0, 10, Locker.FromOpen(open.StateId, holder.NewOwner("lock"))).Bounded()).Status);
        Assert.Equal(NfsStat4.Ok, await holder.DestroySessionAsync().Bounded());
        Assert.Equal(NfsStat4.ClientIdBusy, await holder.DestroyClientIdAsync().Bounded());

        // The other client renews as it goes; past 1.25 leases the holder's lease is over and swept.
        for (int i = 0; i < 3; i++)
        {
            fx.Clock.Advance(fx.LeaseTime * 0.5);
            Assert.Equal(NfsStat4.Ok, await other.RenewAsync().Bounded());
        }

        Assert.Equal(NfsStat4.StaleClientId, await holder.DestroyClientIdAsync().Bounded());
        var taken = (await other.OpenAsync(root, name, ShareAccess.Write, deny: ShareDeny.Both).Bounded()).ValueOrThrow();
        var relocked = await other.LockAsync(taken.FileHandle, LockType.Write, 0, 10, Locker.FromOpen(taken.StateId, other.NewOwner("lock"))).Bounded();
        Assert.Equal(NfsStat4.Ok, relocked.Status);
    }
}
