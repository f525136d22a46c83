using Leasehold.Nfs4.Client;

namespace Leasehold.IntegrationTests.Delegations;

/// <summary>A server with <c>Nfs4:Delegations</c> off.</summary>
public sealed class DelegationsOffServerFixture : ServerFixture
{
    protected override void Configure(IDictionary<string, string?> settings) => settings["Nfs4:Delegations"] = "false";
}

/// <summary>A server that lets a client hold one delegation and all clients together two.</summary>
public sealed class DelegationLimitServerFixture : ServerFixture
{
    protected override void Configure(IDictionary<string, string?> settings)
    {
        settings["Nfs4:MaxDelegationsPerClient"] = "1";
        settings["Nfs4:MaxDelegations"] = "2";
    }
}

internal static class DelegationFiles
{
    private const uint Resource = 2;

    /// <summary>A new file made (and closed) by the fixture's root session; the root and its name.</summary>
    public static async Task<(FileHandle Root, string Name)> NewFileAsync(ServerFixture fx)
    {
        var root = await fx.RootAsync();
        string name = ServerFixture.NewName("deleg");
        var made = (await fx.Session.CreateAsync(root, name).Bounded()).ValueOrThrow();
        Assert.Equal(NfsStat4.Ok, (await fx.Session.CloseAsync(made.FileHandle, made.StateId).Bounded()).Status);
        return (root, name);
    }

    public static async Task<Delegation> OpenForReadAsync(Nfs4Session session, ServerFixture fx)
    {
        var (root, name) = await NewFileAsync(fx);
        return (await session.OpenAsync(root, name, ShareAccess.Read | ShareAccess.WantReadDelegation).Bounded()).ValueOrThrow().Delegation;
    }

    public static void AssertResource(Delegation delegation)
    {
        Assert.Equal(DelegationType.NoneExt, delegation.Type);
        Assert.Equal(Resource, delegation.WhyNone);
        Assert.False(delegation.ServerWillSignal);
    }
}

/// <summary><c>Nfs4:Delegations = false</c>: no OPEN gets a delegation; one that wants one hears WND4_RESOURCE.</summary>
public sealed class DelegationsOffTests(DelegationsOffServerFixture fx) : IClassFixture<DelegationsOffServerFixture>
{
    [Fact]
    public async Task With_delegations_off_a_read_open_gets_none()
    {
        await using var a = await fx.ConnectAsync();
        var (root, name) = await DelegationFiles.NewFileAsync(fx);

        var plain = (await a.OpenAsync(root, name, ShareAccess.Read).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.None, plain.Delegation.Type);
        DelegationFiles.AssertResource(await DelegationFiles.OpenForReadAsync(a, fx));
    }
}

/// <summary><c>Nfs4:MaxDelegationsPerClient</c> and <c>Nfs4:MaxDelegations</c>: past either, none is granted (WND4_RESOURCE).</summary>
public sealed class DelegationLimitTests(DelegationLimitServerFixture fx) : IClassFixture<DelegationLimitServerFixture>
{
    [Fact]
    public async Task Past_the_per_client_and_the_total_limit_none_is_granted_until_one_is_returned()
    {
        await using var a = await fx.ConnectAsync();
        await using var b = await fx.ConnectAsync();
        await using var c = await fx.ConnectAsync();

        var (root, name) = await DelegationFiles.NewFileAsync(fx);
        var first = (await a.OpenAsync(root, name, ShareAccess.Read).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.Read, first.Delegation.Type);
        DelegationFiles.AssertResource(await DelegationFiles.OpenForReadAsync(a, fx)); // A's one is used

        Assert.Equal(DelegationType.Read, (await DelegationFiles.OpenForReadAsync(b, fx)).Type); // the second of the server's two
        DelegationFiles.AssertResource(await DelegationFiles.OpenForReadAsync(c, fx)); // the server's two are used

        Assert.Equal(NfsStat4.Ok, await a.DelegReturnAsync(first.FileHandle, first.Delegation.StateId).Bounded());
        Assert.Equal(DelegationType.Read, (await DelegationFiles.OpenForReadAsync(c, fx)).Type);
        DelegationFiles.AssertResource(await DelegationFiles.OpenForReadAsync(a, fx)); // B's and C's make the server's two
    }
}

/// <summary>An expired client's delegations go with it (RFC 8881 §8.3; courtesy clients off): another client's conflicting OPEN needs no recall.</summary>
public sealed class DelegationExpiryTests(NoCourtesyServerFixture fx) : IClassFixture<NoCourtesyServerFixture>
{
    [Fact]
    public async Task An_expired_clients_delegations_are_released()
    {
        var handler = new Leasehold.Nfs4.Client.Callbacks.RecordingCallbackHandler();
        await using var silent = await fx.ConnectAsync(options: new Nfs4SessionOptions { CallbackHandler = handler });
        await using var active = await fx.ConnectAsync();
        var (root, name) = await DelegationFiles.NewFileAsync(fx);
        var held = (await silent.OpenAsync(root, name, ShareAccess.Read).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.Read, held.Delegation.Type);

        // Past 1.25 leases without a SEQUENCE, the silent client is gone, and its delegation with it.
        for (int i = 0; i < 3; i++)
        {
            fx.Clock.Advance(fx.LeaseTime * 0.45);
            Assert.Equal(NfsStat4.Ok, await active.RenewAsync().Bounded());
            Assert.Equal(NfsStat4.Ok, await fx.Session.RenewAsync().Bounded());
        }
        Assert.Equal(NfsStat4.BadSession, await silent.RenewAsync().Bounded());

        var writer = await active.OpenAsync(root, name, ShareAccess.Write).Bounded();
        Assert.Equal(NfsStat4.Ok, writer.Status); // no recall: nothing left to recall
        Assert.False(handler.Recalls.TryRead(out _));
    }
}

/// <summary>
/// A delegation not returned within the lease time after its recall is revoked (RFC 8881 §10.2, §18.46.3): the
/// conflicting OPEN proceeds, the holder's SEQUENCE replies carry SEQ4_STATUS_RECALLABLE_STATE_REVOKED until it frees
/// the stateid, and its use of the stateid is NFS4ERR_DELEG_REVOKED.
/// </summary>
public sealed class DelegationRevocationTests(ShortLeaseServerFixture fx) : IClassFixture<ShortLeaseServerFixture>
{
    private const uint RecallableStateRevoked = 0x40;

    [Fact]
    public async Task A_recalled_delegation_not_returned_is_revoked_and_reported_until_freed()
    {
        var handler = new Leasehold.Nfs4.Client.Callbacks.RecordingCallbackHandler(); // answers CB_RECALL, returns nothing
        await using var holder = await fx.ConnectAsync(options: new Nfs4SessionOptions { CallbackHandler = handler });
        await using var writer = await fx.ConnectAsync();
        var (root, name) = await DelegationFiles.NewFileAsync(fx);
        var held = (await holder.OpenAsync(root, name, ShareAccess.Read).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.Read, held.Delegation.Type);

        Assert.Equal(NfsStat4.Delay, (await writer.OpenAsync(root, name, ShareAccess.Write).Bounded()).Status);
        await handler.Recalls.ReadAsync().AsTask().Bounded();

        // The holder stays alive but never returns the delegation: past one lease time it is revoked.
        for (int i = 0; i < 3; i++)
        {
            fx.Clock.Advance(fx.LeaseTime * 0.45);
            Assert.Equal(NfsStat4.Ok, await holder.RenewAsync().Bounded());
            Assert.Equal(NfsStat4.Ok, await writer.RenewAsync().Bounded());
            Assert.Equal(NfsStat4.Ok, await fx.Session.RenewAsync().Bounded());
        }
        var opened = await writer.OpenAsync(root, name, ShareAccess.Write).Bounded();
        Assert.Equal(NfsStat4.Ok, opened.Status);

        // The engine tells the holder of the revocation through its notice queue, on the thread pool: the writer's
        // OPEN may be answered first. Wait (bounded) for the holder's SEQUENCE to say so.
        var deadline = DateTime.UtcNow + Waits.Timeout;
        while (true)
        {
            Assert.Equal(NfsStat4.Ok, await holder.RenewAsync().Bounded());
            if ((holder.LastSequenceStatusFlags & RecallableStateRevoked) != 0)
                break;
            Assert.True(DateTime.UtcNow < deadline, "SEQUENCE never reported SEQ4_STATUS_RECALLABLE_STATE_REVOKED");
            await Task.Delay(10);
        }
        Assert.Equal(NfsStat4.DelegRevoked, (await holder.ReadAsync(held.FileHandle, held.Delegation.StateId, 0, 10).Bounded()).Status);
        Assert.Equal(NfsStat4.DelegRevoked, (await holder.OpenAsync(held.FileHandle, OpenClaim.DelegCurFh(held.Delegation.StateId),
            ShareAccess.Read, owner: holder.NewOwner("local")).Bounded()).Status);

        Assert.Equal(NfsStat4.Ok, await holder.FreeStateIdAsync(held.Delegation.StateId).Bounded());
        Assert.Equal(NfsStat4.Ok, await holder.RenewAsync().Bounded());
        Assert.Equal(0u, holder.LastSequenceStatusFlags & RecallableStateRevoked);
    }
}
