using Leasehold.Nfs4.Client;

namespace Leasehold.IntegrationTests.Recovery;

/// <summary>
/// A recorded client that never comes back (RFC 8881 §8.4.2.1): the grace period waits for it one grace time (the
/// lease time here), no more; then its open and its lock are gone, another client gets what they held, and its record
/// is forgotten, so the next start does not wait for it. A restart during the grace period forgets nobody.
/// </summary>
public sealed class GraceDeadlineTests(RecoveryServerFixture fx) : IClassFixture<RecoveryServerFixture>
{
    [Fact]
    public async Task A_client_that_never_comes_back_does_not_hold_others_past_the_grace_period()
    {
        string goneName = ServerFixture.NewName("gone"), stayName = ServerFixture.NewName("stays");
        var file = await fx.NewFileAsync("held");
        await using (var gone = await fx.ConnectAsAsync(goneName))
        await using (var stays = await fx.ConnectAsAsync(stayName))
        {
            var open = (await gone.OpenAsync(file, ShareAccess.Both, ShareDeny.Both).Bounded()).ValueOrThrow();
            Assert.Equal(NfsStat4.Ok, (await gone.LockAsync(file, LockType.Write, 0, ulong.MaxValue, Locker.FromOpen(open.StateId, gone.NewOwner("lock"))).Bounded()).Status);
            await fx.RestartAsync();
        }

        // A restart during grace: both records are still there, and the new grace period waits for both again.
        Assert.True(fx.InGrace);
        await fx.RestartAsync();
        Assert.True(fx.InGrace);
        Assert.True(fx.Records.ContainsKey(goneName));
        Assert.True(fx.Records.ContainsKey(stayName));

        await using var back = await fx.ConnectAsAsync(stayName); // comes back, reclaims nothing, RECLAIM_COMPLETE
        Assert.True(fx.InGrace);
        Assert.Equal(NfsStat4.Grace, (await back.OpenAsync(file, ShareAccess.Both).Bounded()).Status);

        await fx.AdvanceAsync(fx.LeaseTime - TimeSpan.FromSeconds(1), back);
        Assert.True(fx.InGrace);
        Assert.Equal(NfsStat4.Grace, (await back.OpenAsync(file, ShareAccess.Both).Bounded()).Status);
        await fx.AdvanceAsync(TimeSpan.FromSeconds(1), back);
        Assert.False(fx.InGrace);

        // The open that denied everything and the whole-file lock went with the restart: nothing holds the file now.
        var open2 = (await back.OpenAsync(file, ShareAccess.Both, ShareDeny.Both).Bounded()).ValueOrThrow();
        var locked = await back.LockAsync(file, LockType.Write, 0, ulong.MaxValue, Locker.FromOpen(open2.StateId, back.NewOwner("lock"))).Bounded();
        Assert.Equal(NfsStat4.Ok, locked.Status);
        Assert.False(fx.Records.ContainsKey(goneName));
        Assert.True(fx.Records.ContainsKey(stayName));
        Assert.True((await back.UnlockAsync(file, LockType.Write, locked.StateId, 0, ulong.MaxValue).Bounded()).IsOk);
        Assert.True((await back.CloseAsync(file, open2.StateId).Bounded()).IsOk);
    }
}

/// <summary>
/// The deadline stretches while reclaims keep arriving (knfsd's <c>clients_still_reclaiming</c>; pynfs REBT5 in
/// miniature): a reclaim in the last second before the deadline moves it by one second, as long as reclaims keep
/// coming, never past twice the grace time.
/// </summary>
public sealed class GraceExtensionTests(RecoveryServerFixture fx) : IClassFixture<RecoveryServerFixture>
{
    [Fact]
    public async Task Reclaims_near_the_deadline_extend_grace_one_second_at_a_time()
    {
        string name = ServerFixture.NewName("slow");
        var files = new List<FileHandle>();
        for (int i = 0; i < 4; i++)
            files.Add(await fx.NewFileAsync("slow"));
        await using (var before = await fx.ConnectAsAsync(name))
        {
            foreach (var f in files)
                Assert.True((await before.OpenAsync(f, ShareAccess.Read).Bounded()).IsOk);
            await fx.RestartAsync();
        }
        Assert.True(fx.InGrace);
        await using var slow = await fx.ConnectAsAsync(name, reclaimComplete: false);

        await fx.AdvanceAsync(fx.LeaseTime - TimeSpan.FromSeconds(0.5), slow);
        Assert.True((await Reclaim.OpenAsync(slow, files[0], ShareAccess.Read)).IsOk);
        await fx.AdvanceAsync(TimeSpan.FromSeconds(0.5), slow); // the deadline: somebody reclaimed 0.5 s ago
        Assert.True(fx.InGrace);
        await fx.AdvanceAsync(TimeSpan.FromSeconds(0.75), slow);
        Assert.True((await Reclaim.OpenAsync(slow, files[1], ShareAccess.Read)).IsOk); // past the first deadline, still in grace
        await fx.AdvanceAsync(TimeSpan.FromSeconds(0.25), slow); // the next deadline: reclaimed 0.25 s ago
        Assert.True(fx.InGrace);
        await fx.AdvanceAsync(TimeSpan.FromSeconds(1), slow); // nobody reclaimed in the last second
        Assert.False(fx.InGrace);
        Assert.Equal(NfsStat4.NoGrace, (await Reclaim.OpenAsync(slow, files[2], ShareAccess.Read)).Status);
        Assert.Equal(NfsStat4.Ok, await Reclaim.CompleteAsync(slow));
    }
}
