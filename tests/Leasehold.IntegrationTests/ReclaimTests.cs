using Leasehold.Nfs4.Client;

namespace Leasehold.IntegrationTests;

/// <summary>
/// Reclaims by clients the server has no record of (RFC 8881 §8.4.2.1, §15.1.9, §18.16.3, §18.10.3, §18.51): on a
/// server that started without records there is no grace period, and every reclaim is NFS4ERR_NO_GRACE, before any
/// other rule, and in particular before the "no new state until RECLAIM_COMPLETE" rule, which would otherwise answer
/// NFS4ERR_GRACE to a client that is reclaiming (as every client does before its RECLAIM_COMPLETE) and leave it unable
/// to recover its open files. Reclaims across a restart are in Recovery/.
/// </summary>
public sealed class ReclaimTests(ServerFixture fx) : IClassFixture<ServerFixture>
{
    private static readonly Nfs4SessionOptions Reclaiming = new() { ReclaimComplete = false };

    [Theory]
    [InlineData(DelegationType.None)]
    [InlineData(DelegationType.Read)]
    [InlineData(DelegationType.Write)]
    public async Task OPEN_CLAIM_PREVIOUS_before_RECLAIM_COMPLETE_is_NO_GRACE(DelegationType held)
    {
        var file = await NewFileAsync();
        await using var client = await fx.ConnectAsync(options: Reclaiming);

        using var c = new CompoundBuilder("reclaim").PutFh(file)
            .Open(OpenClaim.Previous(held), ShareAccess.Write, ShareDeny.None, client.OpenOwner).GetFh();
        Assert.Equal(NfsStat4.NoGrace, (await client.CompoundAsync(c).Bounded()).Status);
    }

    [Fact]
    public async Task Delegation_reclaims_before_RECLAIM_COMPLETE_are_NO_GRACE()
    {
        var root = await fx.RootAsync();
        var name = ServerFixture.NewName("deleg-prev");
        var file = await NewFileAsync(name);
        await using var client = await fx.ConnectAsync(options: Reclaiming);

        using (var c = new CompoundBuilder("deleg_prev_fh").PutFh(file)
                   .Open(new OpenClaim(OpenClaimType.DelegPrevFh), ShareAccess.Read, ShareDeny.None, client.OpenOwner))
            Assert.Equal(NfsStat4.NoGrace, (await client.CompoundAsync(c).Bounded()).Status);
        using (var c = new CompoundBuilder("deleg_prev").PutFh(root)
                   .Open(new OpenClaim(OpenClaimType.DelegatePrev, name), ShareAccess.Read, ShareDeny.None, client.OpenOwner))
            Assert.Equal(NfsStat4.NoGrace, (await client.CompoundAsync(c).Bounded()).Status);
    }

    [Fact]
    public async Task CLAIM_DELEG_CUR_FH_is_decoded_with_its_stateid_and_CLAIM_DELEG_PREV_FH_without()
    {
        // claim types 5 and 6 (RFC 8881 §18.16.1): CLAIM_DELEG_CUR_FH carries a stateid, CLAIM_DELEG_PREV_FH nothing.
        // Decoding them the wrong way round reads the stateid as the next operation.
        var file = await NewFileAsync();
        var s = fx.Session;
        using var c = new CompoundBuilder("deleg_cur_fh").PutFh(file)
            .Open(OpenClaim.DelegCurFh(new StateId(1, 0x1234)), ShareAccess.Read, ShareDeny.None, s.OpenOwner).GetFh();
        var reply = await s.CompoundAsync(c).Bounded();
        Assert.Equal(NfsStat4.BadStateId, reply.Status); // the stateid was read, and names no delegation of this client
        Assert.Equal(3, reply.Results.Count); // SEQUENCE, PUTFH, OPEN: the compound was read as sent
    }

    [Fact]
    public async Task The_same_reclaims_after_RECLAIM_COMPLETE_are_NO_GRACE_too()
    {
        var file = await NewFileAsync();
        var s = fx.Session; // has sent RECLAIM_COMPLETE

        using var c = new CompoundBuilder("late_reclaim").PutFh(file)
            .Open(OpenClaim.Previous(DelegationType.None), ShareAccess.Read, ShareDeny.None, s.OpenOwner);
        Assert.Equal(NfsStat4.NoGrace, (await s.CompoundAsync(c).Bounded()).Status);
    }

    [Fact]
    public async Task LOCK_reclaim_is_NO_GRACE_before_and_after_RECLAIM_COMPLETE_whatever_its_stateid()
    {
        var file = await NewFileAsync();
        var bogus = new StateId(1, 0x1234);
        await using var client = await fx.ConnectAsync(options: Reclaiming);

        using (var c = new CompoundBuilder("lock_reclaim").PutFh(file)
                   .Lock(LockType.Write, 0, 10, new Locker(true, bogus, client.NewOwner("lock")), reclaim: true))
            Assert.Equal(NfsStat4.NoGrace, (await client.CompoundAsync(c).Bounded()).Status);

        var s = fx.Session;
        var open = (await s.OpenAsync(file, ShareAccess.Both).Bounded()).ValueOrThrow();
        using (var c = new CompoundBuilder("lock_reclaim_late").PutFh(file)
                   .Lock(LockType.Write, 0, 10, new Locker(true, open.StateId, s.NewOwner("lock")), reclaim: true))
            Assert.Equal(NfsStat4.NoGrace, (await s.CompoundAsync(c).Bounded()).Status);
        Assert.True((await s.CloseAsync(file, open.StateId).Bounded()).IsOk);
    }

    [Fact]
    public async Task New_state_before_RECLAIM_COMPLETE_is_still_GRACE()
    {
        var file = await NewFileAsync();
        await using var client = await fx.ConnectAsync(options: Reclaiming);

        Assert.Equal(NfsStat4.Grace, (await client.OpenAsync(file, ShareAccess.Read).Bounded()).Status);
    }

    private async Task<FileHandle> NewFileAsync(string? name = null)
    {
        var s = fx.Session;
        var f = (await s.CreateAsync(await fx.RootAsync(), name ?? ServerFixture.NewName("reclaim")).Bounded()).ValueOrThrow();
        Assert.True((await s.CloseAsync(f.FileHandle, f.StateId).Bounded()).IsOk);
        return f.FileHandle;
    }
}
