using Leasehold.Nfs4.Client;
using Leasehold.Nfs4.Client.Callbacks;

namespace Leasehold.IntegrationTests.Delegations;

/// <summary>
/// What a delegation holder sends while it returns a recalled delegation (RFC 8881 §10.4.5, §18.16.3): OPEN with
/// CLAIM_DELEG_CUR_FH or CLAIM_DELEGATE_CUR turns the opens it served locally into real ones, and must succeed while
/// the recall is pending; the delegation stateid must be its own, on that file, live, and cover the access. Also the
/// other uses of a delegation stateid (SETATTR, LOCK) and the share_access want values OPEN accepts.
/// </summary>
public sealed class DelegationClaimTests(ServerFixture fx) : IClassFixture<ServerFixture>
{
    private sealed record Holder(Nfs4Session Session, RecordingCallbackHandler Handler) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => Session.DisposeAsync();
    }

    private async Task<Holder> ConnectAsync()
    {
        var handler = new RecordingCallbackHandler();
        return new Holder(await fx.ConnectAsync(options: new Nfs4SessionOptions { CallbackHandler = handler }), handler);
    }

    /// <summary>A's read delegation on a new file, recalled by B's OPEN for write (which answered DELAY).</summary>
    private async Task<(FileHandle Root, string Name, OpenedFile Held)> RecalledAsync(Holder a, Nfs4Session b)
    {
        var (root, name) = await DelegationFiles.NewFileAsync(fx);
        var held = (await a.Session.OpenAsync(root, name, ShareAccess.Read).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.Read, held.Delegation.Type);
        Assert.Equal(NfsStat4.Delay, (await b.OpenAsync(root, name, ShareAccess.Write).Bounded()).Status);
        var recall = await a.Handler.Recalls.ReadAsync().AsTask().Bounded();
        Assert.Equal(held.Delegation.StateId, recall.StateId);
        return (root, name, held);
    }

    private static async Task<NfsStat4> RetryWhileDelayAsync(Func<Task<NfsStat4>> op)
    {
        var deadline = DateTime.UtcNow + Waits.Timeout;
        while (true)
        {
            var status = await op().Bounded();
            if (status != NfsStat4.Delay || DateTime.UtcNow > deadline)
                return status;
            await Task.Delay(10);
        }
    }

    [Fact]
    public async Task CLAIM_DELEG_CUR_FH_opens_while_the_recall_is_pending_and_the_writer_proceeds_after_DELEGRETURN()
    {
        await using var a = await ConnectAsync();
        await using var b = await fx.ConnectAsync();
        var (root, name, held) = await RecalledAsync(a, b);

        // A local open the holder served from its delegation becomes a real one, under a new open owner.
        var claimed = await a.Session.OpenAsync(held.FileHandle, OpenClaim.DelegCurFh(held.Delegation.StateId), ShareAccess.Read,
            owner: a.Session.NewOwner("local")).Bounded();
        Assert.Equal(NfsStat4.Ok, claimed.Status);
        Assert.Equal(DelegationType.None, claimed.Value!.Delegation.Type);
        Assert.Equal(held.FileHandle, claimed.Value.FileHandle);
        var read = (await a.Session.ReadAsync(held.FileHandle, claimed.Value.StateId, 0, 100).Bounded()).ValueOrThrow();
        Assert.True(read.Eof);

        // The recall still stands until DELEGRETURN; then the writer gets in (the claimed read open does not deny it).
        Assert.Equal(NfsStat4.Delay, (await b.OpenAsync(root, name, ShareAccess.Write).Bounded()).Status);
        Assert.Equal(NfsStat4.Ok, await a.Session.DelegReturnAsync(held.FileHandle, held.Delegation.StateId).Bounded());
        Assert.Equal(NfsStat4.Ok, await RetryWhileDelayAsync(async () => (await b.OpenAsync(root, name, ShareAccess.Write)).Status));
    }

    [Fact]
    public async Task CLAIM_DELEGATE_CUR_opens_by_name_while_the_recall_is_pending()
    {
        await using var a = await ConnectAsync();
        await using var b = await fx.ConnectAsync();
        var (root, name, held) = await RecalledAsync(a, b);

        var claimed = await a.Session.OpenAsync(root, OpenClaim.DelegateCur(held.Delegation.StateId, name), ShareAccess.Read,
            owner: a.Session.NewOwner("local")).Bounded();

        Assert.Equal(NfsStat4.Ok, claimed.Status);
        Assert.Equal(held.FileHandle, claimed.Value!.FileHandle);
        Assert.Equal(DelegationType.None, claimed.Value.Delegation.Type);
    }

    [Fact]
    public async Task A_claim_with_another_clients_delegation_is_BAD_STATEID()
    {
        await using var a = await ConnectAsync();
        await using var b = await ConnectAsync();
        var (root, name) = await DelegationFiles.NewFileAsync(fx);
        var held = (await a.Session.OpenAsync(root, name, ShareAccess.Read).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.Read, held.Delegation.Type);

        var stolen = await b.Session.OpenAsync(held.FileHandle, OpenClaim.DelegCurFh(held.Delegation.StateId), ShareAccess.Read).Bounded();

        Assert.Equal(NfsStat4.BadStateId, stolen.Status);
        Assert.Empty(PendingRecalls(a)); // the refused claim recalled nothing
    }

    [Fact]
    public async Task A_claim_naming_another_file_than_its_delegations_is_BAD_STATEID()
    {
        await using var a = await ConnectAsync();
        var (root, name) = await DelegationFiles.NewFileAsync(fx);
        var (_, other) = await DelegationFiles.NewFileAsync(fx);
        var held = (await a.Session.OpenAsync(root, name, ShareAccess.Read).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.Read, held.Delegation.Type);

        var claimed = await a.Session.OpenAsync(root, OpenClaim.DelegateCur(held.Delegation.StateId, other), ShareAccess.Read).Bounded();

        Assert.Equal(NfsStat4.BadStateId, claimed.Status);
    }

    [Fact]
    public async Task A_write_claim_under_a_read_delegation_is_OPENMODE()
    {
        await using var a = await ConnectAsync();
        var (root, name) = await DelegationFiles.NewFileAsync(fx);
        var held = (await a.Session.OpenAsync(root, name, ShareAccess.Read).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.Read, held.Delegation.Type);

        foreach (var access in new[] { ShareAccess.Write, ShareAccess.Both })
        {
            var claimed = await a.Session.OpenAsync(held.FileHandle, OpenClaim.DelegCurFh(held.Delegation.StateId), access,
                owner: a.Session.NewOwner("local")).Bounded();
            Assert.Equal(NfsStat4.OpenMode, claimed.Status);
        }
    }

    [Fact]
    public async Task A_claim_with_a_returned_delegation_is_BAD_STATEID_and_a_claim_cannot_create()
    {
        await using var a = await ConnectAsync();
        var (root, name) = await DelegationFiles.NewFileAsync(fx);
        var held = (await a.Session.OpenAsync(root, name, ShareAccess.Read).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.Read, held.Delegation.Type);

        // Only CLAIM_NULL may create (§18.16.3; knfsd answers the same).
        var creating = await a.Session.OpenAsync(root, OpenClaim.DelegateCur(held.Delegation.StateId, name), ShareAccess.Read,
            how: OpenHow.Unchecked()).Bounded();
        Assert.Equal(NfsStat4.Inval, creating.Status);

        Assert.Equal(NfsStat4.Ok, await a.Session.DelegReturnAsync(held.FileHandle, held.Delegation.StateId).Bounded());
        var late = await a.Session.OpenAsync(held.FileHandle, OpenClaim.DelegCurFh(held.Delegation.StateId), ShareAccess.Read).Bounded();
        Assert.Equal(NfsStat4.BadStateId, late.Status);
    }

    [Fact]
    public async Task The_previous_claims_are_NO_GRACE_while_nothing_survives_a_restart()
    {
        await using var a = await ConnectAsync();
        var (root, name) = await DelegationFiles.NewFileAsync(fx);
        var file = (await a.Session.LookupAsync(root, name).Bounded()).ValueOrThrow();

        Assert.Equal(NfsStat4.NoGrace, (await a.Session.OpenAsync(file, new OpenClaim(OpenClaimType.DelegPrevFh), ShareAccess.Read).Bounded()).Status);
        Assert.Equal(NfsStat4.NoGrace, (await a.Session.OpenAsync(root, new OpenClaim(OpenClaimType.DelegatePrev, name), ShareAccess.Read).Bounded()).Status);
        Assert.Equal(NfsStat4.NoGrace, (await a.Session.OpenAsync(file, OpenClaim.Previous(DelegationType.Read), ShareAccess.Read).Bounded()).Status);
    }

    [Fact]
    public async Task The_holder_SETATTRs_with_its_delegation_stateid_without_recalling_it_but_cannot_truncate_under_a_read_delegation()
    {
        await using var a = await ConnectAsync();
        var (root, name) = await DelegationFiles.NewFileAsync(fx);
        var held = (await a.Session.OpenAsync(root, name, ShareAccess.Read).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.Read, held.Delegation.Type);

        var mode = await a.Session.SetAttrAsync(held.FileHandle, new SetAttributes { Mode = 0x180 }, held.Delegation.StateId).Bounded();
        Assert.Equal(NfsStat4.Ok, mode.Status);
        var size = await a.Session.SetAttrAsync(held.FileHandle, new SetAttributes { Size = 0 }, held.Delegation.StateId).Bounded();
        Assert.Equal(NfsStat4.OpenMode, size.Status);

        // Its own change recalled nothing: the delegation still reads.
        Assert.Empty(PendingRecalls(a));
        Assert.Equal(NfsStat4.Ok, (await a.Session.ReadAsync(held.FileHandle, held.Delegation.StateId, 0, 5).Bounded()).Status);
        Assert.Equal(0x180u, (await a.Session.GetAttrAsync(held.FileHandle).Bounded()).ValueOrThrow().Mode);
    }

    [Fact]
    public async Task LOCK_from_a_delegation_stateid_is_BAD_STATEID()
    {
        // open_to_lock_owner4 carries an open stateid (§18.10.3); a delegation is not one (knfsd answers the same).
        await using var a = await ConnectAsync();
        var (root, name) = await DelegationFiles.NewFileAsync(fx);
        var held = (await a.Session.OpenAsync(root, name, ShareAccess.Read).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.Read, held.Delegation.Type);

        var locked = await a.Session.LockAsync(held.FileHandle, LockType.Read, 0, 10, Locker.FromOpen(held.Delegation.StateId, a.Session.NewOwner("lock"))).Bounded();
        Assert.Equal(NfsStat4.BadStateId, locked.Status);

        var fromOpen = await a.Session.LockAsync(held.FileHandle, LockType.Read, 0, 10, Locker.FromOpen(held.StateId, a.Session.NewOwner("lock"))).Bounded();
        Assert.Equal(NfsStat4.Ok, fromOpen.Status);
    }

    [Theory]
    [InlineData(0x0600u)]   // no such OPEN4_SHARE_ACCESS_WANT_* value
    [InlineData(0xFF00u)]
    [InlineData(0x40000u)]  // a bit above the signal bits
    [InlineData(0x100000u)] // OPEN4_SHARE_ACCESS_WANT_DELEG_TIMESTAMPS: NFSv4.2 (RFC 9754), not 4.1
    public async Task An_unknown_want_is_BADXDR(uint want)
    {
        var (root, name) = await DelegationFiles.NewFileAsync(fx);
        await using var a = await ConnectAsync();

        var opened = await a.Session.OpenAsync(root, name, ShareAccess.Read | (ShareAccess)want).Bounded();

        Assert.Equal(NfsStat4.BadXdr, opened.Status);
    }

    [Theory]
    [InlineData(ShareAccess.WantReadDelegation | ShareAccess.WantSignalDelegationWhenResourceAvailable)]
    [InlineData(ShareAccess.WantNoDelegation | ShareAccess.WantPushDelegationWhenUncontended)]
    [InlineData(ShareAccess.WantCancel)]
    public async Task Every_want_RFC_8881_defines_is_accepted(ShareAccess want)
    {
        var (root, name) = await DelegationFiles.NewFileAsync(fx);
        await using var a = await ConnectAsync();

        Assert.Equal(NfsStat4.Ok, (await a.Session.OpenAsync(root, name, ShareAccess.Read | want).Bounded()).Status);
    }

    /// <summary>The recalls a holder has heard so far, without waiting.</summary>
    private static List<CbRecallEvent> PendingRecalls(Holder h)
    {
        var seen = new List<CbRecallEvent>();
        while (h.Handler.Recalls.TryRead(out var r))
            seen.Add(r);
        return seen;
    }
}
