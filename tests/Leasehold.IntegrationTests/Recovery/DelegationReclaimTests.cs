using Leasehold.IntegrationTests.Delegations;
using Leasehold.Nfs4.Client;
using Leasehold.Nfs4.Client.Callbacks;

namespace Leasehold.IntegrationTests.Recovery;

/// <summary>
/// A delegation across a restart (RFC 8881 §10.2.1, §18.16.3): OPEN CLAIM_PREVIOUS names the delegation the client
/// held, and the server grants it again with the open; it is a delegation like any other afterwards, recalled when
/// another client's open conflicts.
/// </summary>
public sealed class DelegationReclaimTests(RecoveryServerFixture fx) : IClassFixture<RecoveryServerFixture>
{
    [Fact]
    public async Task A_write_delegation_is_reclaimed_with_its_open_and_recalled_by_a_conflicting_open()
    {
        string name = ServerFixture.NewName("delegated");
        var file = await fx.NewFileAsync("delegated");
        await using (var before = await fx.ConnectAsAsync(name, backChannel: true))
        {
            var held = (await before.OpenAsync(file, ShareAccess.Both).Bounded()).ValueOrThrow();
            Assert.Equal(DelegationType.Write, held.Delegation.Type);
            await fx.RestartAsync();
        }

        Assert.True(fx.InGrace);
        var handler = new RecordingCallbackHandler();
        await using var back = await fx.ConnectAsync(options: new Nfs4SessionOptions { OwnerId = name, ReclaimComplete = false, CallbackHandler = handler });
        var reclaimed = (await Reclaim.OpenAsync(back, file, ShareAccess.Both, held: DelegationType.Write)).ValueOrThrow();
        Assert.Equal(DelegationType.Write, reclaimed.Delegation.Type);
        Assert.False(reclaimed.Delegation.Recall);
        Assert.True((await back.WriteAsync(file, reclaimed.Delegation.StateId, 0, ServerFixture.Bytes("kept")).Bounded()).IsOk);
        Assert.Equal(NfsStat4.Ok, await Reclaim.CompleteAsync(back));
        Assert.False(fx.InGrace);

        await using var other = await fx.ConnectAsync(options: new Nfs4SessionOptions { BackChannel = false });
        Assert.Equal(NfsStat4.Delay, (await other.OpenAsync(file, ShareAccess.Read).Bounded()).Status);
        using (var timeout = new CancellationTokenSource(Waits.Timeout))
            Assert.Equal(reclaimed.Delegation.StateId, (await handler.Recalls.ReadAsync(timeout.Token)).StateId);
        Assert.Equal(NfsStat4.Ok, await back.DelegReturnAsync(file, reclaimed.Delegation.StateId).Bounded());
        Assert.Equal(NfsStat4.Ok, await DelegationClient.RetryWhileDelayAsync(async () => (await other.OpenAsync(file, ShareAccess.Read)).Status));
    }
}

/// <summary>
/// A read delegation across a restart, and the delegation claims of a client that keeps its own stable storage
/// (CLAIM_DELEGATE_PREV by name, RFC 8881 §18.16.3): both come back during the grace period; the read delegation is
/// recalled by another client's open for write once grace is over.
/// </summary>
public sealed class ReadDelegationReclaimTests(RecoveryServerFixture fx) : IClassFixture<RecoveryServerFixture>
{
    [Fact]
    public async Task A_read_delegation_is_reclaimed_and_recalled_by_an_open_for_write_and_DELEGATE_PREV_reclaims_by_name()
    {
        string name = ServerFixture.NewName("reader");
        var root = await fx.RootAsync();
        var file = await fx.NewFileAsync("read-delegated");
        string byName = ServerFixture.NewName("by-name");
        var named = (await fx.Session.CreateAsync(root, byName).Bounded()).ValueOrThrow();
        Assert.True((await fx.Session.CloseAsync(named.FileHandle, named.StateId).Bounded()).IsOk);
        await using (var before = await fx.ConnectAsAsync(name, backChannel: true))
        {
            Assert.Equal(DelegationType.Read, (await before.OpenAsync(file, ShareAccess.Read).Bounded()).ValueOrThrow().Delegation.Type);
            await fx.RestartAsync();
        }

        var handler = new RecordingCallbackHandler();
        await using var back = await fx.ConnectAsync(options: new Nfs4SessionOptions { OwnerId = name, ReclaimComplete = false, CallbackHandler = handler });
        var reclaimed = (await Reclaim.OpenAsync(back, file, ShareAccess.Read, held: DelegationType.Read)).ValueOrThrow();
        Assert.Equal(DelegationType.Read, reclaimed.Delegation.Type);
        var prev = (await back.OpenAsync(root, new OpenClaim(OpenClaimType.DelegatePrev, byName), ShareAccess.Read).Bounded()).ValueOrThrow();
        Assert.Equal(named.FileHandle, prev.FileHandle);
        Assert.Equal(DelegationType.Read, prev.Delegation.Type); // the claim says it held one: read, for a read open
        Assert.Equal(NfsStat4.Ok, await Reclaim.CompleteAsync(back));
        Assert.False(fx.InGrace);
        Assert.Equal(NfsStat4.NoGrace, (await back.OpenAsync(root, new OpenClaim(OpenClaimType.DelegatePrev, byName), ShareAccess.Read).Bounded()).Status);

        await using var writer = await fx.ConnectAsync(options: new Nfs4SessionOptions { BackChannel = false });
        Assert.Equal(NfsStat4.Delay, (await writer.OpenAsync(file, ShareAccess.Write).Bounded()).Status);
        using (var timeout = new CancellationTokenSource(Waits.Timeout))
            Assert.Equal(reclaimed.Delegation.StateId, (await handler.Recalls.ReadAsync(timeout.Token)).StateId);
        Assert.Equal(NfsStat4.Ok, await back.DelegReturnAsync(file, reclaimed.Delegation.StateId).Bounded());
        Assert.Equal(NfsStat4.Ok, await DelegationClient.RetryWhileDelayAsync(async () => (await writer.OpenAsync(file, ShareAccess.Write)).Status));
    }
}
