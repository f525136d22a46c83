using Leasehold.Nfs4.Client;

namespace Leasehold.IntegrationTests.Recovery;

/// <summary>
/// Issue 10's scenario (RFC 8881 §8.4.2.1): a client holding an open and a byte-range lock; the server stops and starts
/// on the same state directory; the client reclaims both during the grace period, while another client's conflicting
/// LOCK gets NFS4ERR_GRACE; the grace period ends as soon as the last recorded client has sent RECLAIM_COMPLETE (no
/// clock moves here); then the other client's LOCK is DENIED until the first one unlocks, and the first client's write
/// through its reclaimed stateid lands.
/// </summary>
public sealed class ReclaimAfterRestartTests(RecoveryServerFixture fx) : IClassFixture<RecoveryServerFixture>
{
    [Fact]
    public async Task An_open_and_a_lock_are_reclaimed_and_another_clients_lock_waits_for_them()
    {
        string holderName = ServerFixture.NewName("holder"), otherName = ServerFixture.NewName("other");
        var file = await fx.NewFileAsync("locked");
        await using (var holder = await fx.ConnectAsAsync(holderName))
        await using (var other = await fx.ConnectAsAsync(otherName))
        {
            var open = (await holder.OpenAsync(file, ShareAccess.Both).Bounded()).ValueOrThrow();
            Assert.True((await holder.WriteAsync(file, open.StateId, 0, ServerFixture.Bytes("before\n")).Bounded()).IsOk);
            var locked = await holder.LockAsync(file, LockType.Write, 0, 100, Locker.FromOpen(open.StateId, holder.NewOwner("lock"))).Bounded();
            Assert.Equal(NfsStat4.Ok, locked.Status);
            Assert.True((await other.OpenAsync(file, ShareAccess.Both).Bounded()).IsOk);
            Assert.Equal(NfsStat4.Denied, (await other.LockTestAsync(file, LockType.Write, 50, 10, other.NewOwner("lock")).Bounded()).Status);
            Assert.True(fx.Records.ContainsKey(holderName));
            Assert.True(fx.Records.ContainsKey(otherName));

            await fx.RestartAsync(); // a clean stop keeps the records; the clients are cut off mid-flight
        }

        Assert.True(fx.InGrace);
        await using var holderBack = await fx.ConnectAsAsync(holderName, reclaimComplete: false);
        await using var otherBack = await fx.ConnectAsAsync(otherName, reclaimComplete: false);
        await using var newcomer = await fx.ConnectAsync();

        // The other client reclaims its open, but a new lock, even a test, waits for the grace period.
        var otherOpen = (await Reclaim.OpenAsync(otherBack, file, ShareAccess.Both)).ValueOrThrow();
        var otherLock = otherBack.NewOwner("lock");
        Assert.Equal(NfsStat4.Grace, (await otherBack.LockAsync(file, LockType.Write, 50, 10, Locker.FromOpen(otherOpen.StateId, otherLock)).Bounded()).Status);
        Assert.Equal(NfsStat4.Grace, (await otherBack.LockTestAsync(file, LockType.Write, 50, 10, otherLock).Bounded()).Status);
        Assert.Equal(NfsStat4.Grace, (await newcomer.OpenAsync(file, ShareAccess.Read).Bounded()).Status);

        // The holder reclaims its open and its lock.
        var holderOpen = (await Reclaim.OpenAsync(holderBack, file, ShareAccess.Both)).ValueOrThrow();
        var holderLock = await Reclaim.LockAsync(holderBack, file, holderOpen.StateId, holderBack.NewOwner("lock"), LockType.Write, 0, 100);
        Assert.Equal(NfsStat4.Ok, holderLock.Status);
        Assert.Equal(NfsStat4.Ok, await Reclaim.CompleteAsync(holderBack));
        Assert.True(fx.InGrace); // the other recorded client has not said it is done
        Assert.Equal(NfsStat4.Grace, (await otherBack.LockAsync(file, LockType.Write, 50, 10, Locker.FromOpen(otherOpen.StateId, otherLock)).Bounded()).Status);

        Assert.Equal(NfsStat4.Ok, await Reclaim.CompleteAsync(otherBack));
        Assert.False(fx.InGrace); // every recorded client is done: over early

        // The reclaimed lock holds: the other client is DENIED, told who holds it, until the holder unlocks.
        var denied = await otherBack.LockAsync(file, LockType.Write, 50, 10, Locker.FromOpen(otherOpen.StateId, otherLock)).Bounded();
        Assert.Equal(NfsStat4.Denied, denied.Status);
        Assert.Equal(0ul, denied.Denied!.Offset);
        Assert.Equal(100ul, denied.Denied.Length);
        Assert.True((await holderBack.WriteAsync(file, holderOpen.StateId, 7, ServerFixture.Bytes("after\n")).Bounded()).IsOk);
        Assert.True((await holderBack.UnlockAsync(file, LockType.Write, holderLock.StateId, 0, 100).Bounded()).IsOk);
        var granted = await otherBack.LockAsync(file, LockType.Write, 50, 10, Locker.FromOpen(otherOpen.StateId, otherLock)).Bounded();
        Assert.Equal(NfsStat4.Ok, granted.Status);

        var data = (await otherBack.ReadAsync(file, otherOpen.StateId, 0, 100).Bounded()).ValueOrThrow();
        Assert.Equal("before\nafter\n", System.Text.Encoding.UTF8.GetString(data.Data.Span));
        Assert.True((await otherBack.UnlockAsync(file, LockType.Write, granted.StateId, 50, 10).Bounded()).IsOk);
        Assert.True((await otherBack.CloseAsync(file, otherOpen.StateId).Bounded()).IsOk);
        Assert.True((await holderBack.CloseAsync(file, holderOpen.StateId).Bounded()).IsOk);
    }
}
