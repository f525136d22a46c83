using Leasehold.Nfs4.Client;
using Leasehold.Nfs4.Client.Rpc;

namespace Leasehold.IntegrationTests.Recovery;

/// <summary>
/// Who may reclaim what during the grace period (RFC 8881 §8.4.2.1, §15.1.9, §18.51.3): only a client in the records,
/// under the principal it was recorded with, and only until its RECLAIM_COMPLETE (NFS4ERR_NO_GRACE otherwise; a second
/// RECLAIM_COMPLETE is NFS4ERR_COMPLETE_ALREADY); a reclaim that conflicts with another client's reclaimed open or
/// lock is NFS4ERR_RECLAIM_CONFLICT; a client with stable storage of its own reclaims a delegation's opens with
/// CLAIM_DELEG_PREV_FH.
/// </summary>
public sealed class ReclaimRulesTests(RecoveryServerFixture fx) : IClassFixture<RecoveryServerFixture>
{
    [Fact]
    public async Task Reclaims_are_for_recorded_clients_under_their_principal_until_their_RECLAIM_COMPLETE()
    {
        string aName = ServerFixture.NewName("a"), bName = ServerFixture.NewName("b");
        var shared = await fx.NewFileAsync("shared");
        var other = await fx.NewFileAsync("other");
        await using (var a = await fx.ConnectAsAsync(aName))
        await using (var b = await fx.ConnectAsAsync(bName))
            await fx.RestartAsync();
        Assert.True(fx.InGrace);

        // A client that was not recorded has no role in reclaiming.
        await using (var stranger = await fx.ConnectAsync(options: new Nfs4SessionOptions { ReclaimComplete = false, BackChannel = false }))
            Assert.Equal(NfsStat4.NoGrace, (await Reclaim.OpenAsync(stranger, shared, ShareAccess.Read)).Status);

        // Another principal under a recorded name is not the recorded client; the real one can still reclaim after it.
        await using (var impostor = await fx.ConnectAsAsync(aName, reclaimComplete: false, credentials: RpcAuth.Sys(1000, 1000)))
            Assert.Equal(NfsStat4.NoGrace, (await Reclaim.OpenAsync(impostor, shared, ShareAccess.Read)).Status);
        await using var aBack = await fx.ConnectAsAsync(aName, reclaimComplete: false);
        await using var bBack = await fx.ConnectAsAsync(bName, reclaimComplete: false);

        // Two reclaims that cannot both have existed: share reservations, then byte-range locks.
        var aOpen = (await Reclaim.OpenAsync(aBack, shared, ShareAccess.Both, ShareDeny.Write)).ValueOrThrow();
        Assert.Equal(NfsStat4.ReclaimConflict, (await Reclaim.OpenAsync(bBack, shared, ShareAccess.Write)).Status);
        var bOpen = (await Reclaim.OpenAsync(bBack, shared, ShareAccess.Read)).ValueOrThrow();
        var aLock = await Reclaim.LockAsync(aBack, shared, aOpen.StateId, aBack.NewOwner("lock"), LockType.Write, 0, 10);
        Assert.Equal(NfsStat4.Ok, aLock.Status);
        Assert.Equal(NfsStat4.ReclaimConflict, (await Reclaim.LockAsync(bBack, shared, bOpen.StateId, bBack.NewOwner("lock"), LockType.Read, 5, 10)).Status);
        var bLock = await Reclaim.LockAsync(bBack, shared, bOpen.StateId, bBack.NewOwner("lock"), LockType.Read, 10, 10);
        Assert.Equal(NfsStat4.Ok, bLock.Status);

        // After its RECLAIM_COMPLETE a client's reclaims are NO_GRACE, and a second RECLAIM_COMPLETE is COMPLETE_ALREADY.
        Assert.Equal(NfsStat4.Ok, await Reclaim.CompleteAsync(aBack));
        Assert.True(fx.InGrace); // b has not finished
        Assert.Equal(NfsStat4.NoGrace, (await Reclaim.OpenAsync(aBack, other, ShareAccess.Read)).Status);
        Assert.Equal(NfsStat4.NoGrace, (await Reclaim.LockAsync(aBack, shared, aOpen.StateId, aBack.NewOwner("lock2"), LockType.Write, 20, 10)).Status);
        Assert.Equal(NfsStat4.CompleteAlready, await Reclaim.CompleteAsync(aBack));
        Assert.Equal(NfsStat4.Grace, (await aBack.OpenAsync(other, ShareAccess.Read).Bounded()).Status); // new opens wait for everybody

        // CLAIM_DELEG_PREV_FH (a client that kept its delegation's opens in stable storage of its own) during grace, and
        // NO_GRACE once the grace period is over.
        var deleg = await bBack.OpenAsync(other, new OpenClaim(OpenClaimType.DelegPrevFh), ShareAccess.Read).Bounded();
        Assert.True(deleg.IsOk, deleg.Status.ToString());
        Assert.Equal(NfsStat4.Ok, await Reclaim.CompleteAsync(bBack));
        Assert.False(fx.InGrace);
        Assert.Equal(NfsStat4.NoGrace, (await bBack.OpenAsync(other, new OpenClaim(OpenClaimType.DelegPrevFh), ShareAccess.Read).Bounded()).Status);
        Assert.Equal(NfsStat4.NoGrace, (await Reclaim.OpenAsync(bBack, other, ShareAccess.Read)).Status);

        Assert.True((await aBack.UnlockAsync(shared, LockType.Write, aLock.StateId, 0, 10).Bounded()).IsOk);
        Assert.True((await bBack.UnlockAsync(shared, LockType.Read, bLock.StateId, 10, 10).Bounded()).IsOk);
        Assert.True((await aBack.CloseAsync(shared, aOpen.StateId).Bounded()).IsOk);
        Assert.True((await bBack.CloseAsync(shared, bOpen.StateId).Bounded()).IsOk);
        Assert.True((await bBack.CloseAsync(other, deleg.Value!.StateId).Bounded()).IsOk);
    }
}
