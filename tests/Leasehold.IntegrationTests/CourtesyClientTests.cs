using Leasehold.IntegrationTests.Delegations;
using Leasehold.Nfs4.Client;

namespace Leasehold.IntegrationTests;

/// <summary>
/// Courtesy clients (RFC 8881 §8.4.3; knfsd since 5.19): a client whose lease runs out while it holds opens, locks or
/// delegations keeps them until another client needs one (that client's LOCK, LOCKT, OPEN or delegation recall
/// expires it at once), until <c>Nfs4:CourtesyTime</c> passes, or until it sends SEQUENCE again and is an ordinary
/// client. The server's clock is a <see cref="Leasehold.Testing.ManualTimeProvider"/>; the heartbeat runs every lease/4.
/// </summary>
public sealed class CourtesyClientTests(ShortLeaseServerFixture fx) : IClassFixture<ShortLeaseServerFixture>
{
    /// <summary>Moves the clock on by <paramref name="leases"/> lease times, the <paramref name="active"/> client renewing as it goes.</summary>
    private async Task PassLeasesAsync(double leases, Nfs4Session active)
    {
        for (double passed = 0; passed < leases; passed += 0.5)
        {
            fx.Clock.Advance(fx.LeaseTime * 0.5);
            Assert.Equal(NfsStat4.Ok, await active.RenewAsync().Bounded());
        }
    }

    /// <summary>A client without a back channel: it is granted no delegation, so its opens recall nothing from the others.</summary>
    private Task<Nfs4Session> ConnectAsync() => fx.ConnectAsync(options: new Nfs4SessionOptions { BackChannel = false });

    /// <summary>A silent client holding an open of a file of its own: a courtesy client nobody needs anything from.</summary>
    private async Task<Nfs4Session> BystanderAsync(FileHandle root)
    {
        var bystander = await ConnectAsync();
        (await bystander.OpenAsync(root, ServerFixture.NewName("bystander"), ShareAccess.Both, OpenHow.Unchecked()).Bounded()).ValueOrThrow();
        return bystander;
    }

    private static async Task<(FileHandle Root, string Name)> NewNameAsync(Nfs4Session session) =>
        ((await session.LookupPathAsync("").Bounded()).ValueOrThrow(), ServerFixture.NewName("courtesy"));

    [Fact]
    public async Task A_silent_client_keeps_its_open_and_lock_and_has_them_back_with_its_next_SEQUENCE()
    {
        await using var silent = await ConnectAsync();
        await using var active = await ConnectAsync();
        var (root, name) = await NewNameAsync(active);
        var held = (await silent.OpenAsync(root, name, ShareAccess.Both, OpenHow.Unchecked()).Bounded()).ValueOrThrow();
        var owner = silent.NewOwner("lock");
        Assert.Equal(NfsStat4.Ok, (await silent.LockAsync(held.FileHandle, LockType.Write, 0, 100, Locker.FromOpen(held.StateId, owner)).Bounded()).Status);

        await PassLeasesAsync(3, active); // well past 1.25 leases: without courtesy it would be gone

        Assert.Equal(NfsStat4.Ok, await silent.RenewAsync().Bounded()); // its session is still there
        var other = (await active.OpenAsync(root, name, ShareAccess.Both).Bounded()).ValueOrThrow();
        var denied = await active.LockAsync(other.FileHandle, LockType.Write, 0, 100, Locker.FromOpen(other.StateId, active.NewOwner("lock"))).Bounded();
        Assert.Equal(NfsStat4.Denied, denied.Status); // and so is its lock: it is an ordinary client again
    }

    /// <summary>`leasehold client revoke` on a courtesy client expires it as knfsd's "expire" does: nobody is there to be told.</summary>
    [Fact]
    public async Task Revoking_a_courtesy_clients_state_expires_the_client_too()
    {
        await using var silent = await ConnectAsync();
        await using var active = await ConnectAsync();
        var (root, name) = await NewNameAsync(active);
        (await silent.OpenAsync(root, name, ShareAccess.Both, OpenHow.Unchecked()).Bounded()).ValueOrThrow();
        string id = silent.ClientId.ToString("x16");
        await PassLeasesAsync(3, active);
        var listed = await Admin.AdminCli.RunAsync("clients", "--json", "--state-dir", fx.StatePath);
        Assert.Equal("courtesy", Assert.Single(listed.Json<List<Leasehold.Nfs4.Admin.ClientView>>(), c => c.Id == id).State);

        var revoke = await Admin.AdminCli.RunAsync("client", "revoke", id, "--json", "--state-dir", fx.StatePath);

        Assert.True(revoke.ExitCode == 0, revoke.ToString());
        var outcome = revoke.Json<Leasehold.Nfs4.Admin.RevokeOutcome>();
        Assert.Equal((1, true), (outcome.Opens, outcome.ClientExpired));
        var after = await Admin.AdminCli.RunAsync("clients", "--json", "--state-dir", fx.StatePath);
        Assert.DoesNotContain(after.Json<List<Leasehold.Nfs4.Admin.ClientView>>(), c => c.Id == id);
        Assert.Equal(NfsStat4.BadSession, await silent.RenewAsync().Bounded()); // its session went with it
    }

    [Fact]
    public async Task Another_clients_conflicting_LOCK_expires_a_courtesy_client()
    {
        await using var silent = await ConnectAsync();
        await using var active = await ConnectAsync();
        var (root, name) = await NewNameAsync(active);
        var held = (await silent.OpenAsync(root, name, ShareAccess.Both, OpenHow.Unchecked()).Bounded()).ValueOrThrow();
        Assert.Equal(NfsStat4.Ok, (await silent.LockAsync(held.FileHandle, LockType.Write, 0, ulong.MaxValue, Locker.FromOpen(held.StateId, silent.NewOwner("lock"))).Bounded()).Status);
        var other = (await active.OpenAsync(root, name, ShareAccess.Both).Bounded()).ValueOrThrow();
        var lockOwner = active.NewOwner("lock");
        Assert.Equal(NfsStat4.Denied, (await active.LockAsync(other.FileHandle, LockType.Write, 0, 1, Locker.FromOpen(other.StateId, lockOwner)).Bounded()).Status);
        await using var bystander = await BystanderAsync(root);

        await PassLeasesAsync(2, active);

        // LOCKT sees through the courtesy client too (knfsd expires it there as well), then LOCK takes the range.
        Assert.Equal(NfsStat4.Ok, (await active.LockTestAsync(other.FileHandle, LockType.Write, 0, 1, lockOwner).Bounded()).Status);
        Assert.Equal(NfsStat4.Ok, (await active.LockAsync(other.FileHandle, LockType.Write, 0, 1, Locker.FromOpen(other.StateId, lockOwner)).Bounded()).Status);
        Assert.Equal(NfsStat4.BadSession, await silent.RenewAsync().Bounded());
        Assert.Equal(NfsStat4.Ok, await bystander.RenewAsync().Bounded()); // only the client in the way went
    }

    [Fact]
    public async Task Another_clients_OPEN_denied_only_by_a_courtesy_clients_share_reservation_expires_it()
    {
        await using var silent = await ConnectAsync();
        await using var active = await ConnectAsync();
        var (root, name) = await NewNameAsync(active);
        (await silent.OpenAsync(root, name, ShareAccess.Both, OpenHow.Unchecked(), ShareDeny.Both).Bounded()).ValueOrThrow();
        Assert.Equal(NfsStat4.ShareDenied, (await active.OpenAsync(root, name, ShareAccess.Read).Bounded()).Status);
        await using var bystander = await BystanderAsync(root);

        await PassLeasesAsync(2, active);

        Assert.Equal(NfsStat4.Ok, (await active.OpenAsync(root, name, ShareAccess.Read).Bounded()).Status);
        Assert.Equal(NfsStat4.BadSession, await silent.RenewAsync().Bounded());
        Assert.Equal(NfsStat4.Ok, await bystander.RenewAsync().Bounded()); // only the client in the way went
    }

    [Fact]
    public async Task A_WRITE_with_the_anonymous_stateid_refused_only_by_a_courtesy_clients_deny_expires_it()
    {
        await using var silent = await ConnectAsync();
        await using var active = await ConnectAsync();
        var (root, name) = await NewNameAsync(active);
        var held = (await silent.OpenAsync(root, name, ShareAccess.Both, OpenHow.Unchecked(), ShareDeny.Write).Bounded()).ValueOrThrow();
        Assert.Equal(NfsStat4.Locked, (await active.WriteAsync(held.FileHandle, StateId.Anonymous, 0, ServerFixture.Bytes("x")).Bounded()).Status);
        await using var bystander = await BystanderAsync(root);

        await PassLeasesAsync(2, active);

        Assert.Equal(NfsStat4.Ok, (await active.WriteAsync(held.FileHandle, StateId.Anonymous, 0, ServerFixture.Bytes("x")).Bounded()).Status);
        Assert.Equal(NfsStat4.BadSession, await silent.RenewAsync().Bounded());
        Assert.Equal(NfsStat4.Ok, await bystander.RenewAsync().Bounded()); // only the client in the way went
    }

    [Fact]
    public async Task A_courtesy_client_goes_once_CourtesyTime_has_passed_even_if_nobody_needs_its_state()
    {
        await using var late = await ConnectAsync();
        await using var early = await ConnectAsync();
        await using var active = await ConnectAsync();
        var (root, name) = await NewNameAsync(active);
        (await late.OpenAsync(root, name + "-late", ShareAccess.Both, OpenHow.Unchecked()).Bounded()).ValueOrThrow();
        (await early.OpenAsync(root, name + "-early", ShareAccess.Both, OpenHow.Unchecked()).Bounded()).ValueOrThrow();

        // Both become courtesy clients about 1.25 leases (3.75 s) after their last SEQUENCE; CourtesyTime here is 30 s.
        await PassLeasesAsync(8, active); // 24 s
        Assert.Equal(NfsStat4.Ok, await early.RenewAsync().Bounded()); // still kept: it comes back
        await PassLeasesAsync(6, active); // 42 s: "late" has been a courtesy client for about 38 s
        Assert.Equal(NfsStat4.BadSession, await late.RenewAsync().Bounded());
    }

    [Fact]
    public async Task A_delegation_conflict_expires_a_courtesy_holder_instead_of_recalling()
    {
        // The fixture's root session would be expired by the clock these tests move on: the file is made by "active".
        await using var holder = await DelegationClient.ConnectAsync(fx);
        await using var active = await ConnectAsync();
        var (root, name) = await NewNameAsync(active);
        var made = (await active.CreateAsync(root, name).Bounded()).ValueOrThrow();
        Assert.Equal(NfsStat4.Ok, (await active.CloseAsync(made.FileHandle, made.StateId).Bounded()).Status);
        var held = (await holder.Session.OpenAsync(root, name, ShareAccess.Read).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.Read, held.Delegation.Type);
        await using var bystander = await BystanderAsync(root);

        await PassLeasesAsync(2, active);

        Assert.Equal(NfsStat4.Ok, await DelegationClient.RetryWhileDelayAsync(async () => (await active.OpenAsync(root, name, ShareAccess.Write).Bounded()).Status));
        Assert.False(holder.Handler.Recalls.TryRead(out _), "a courtesy holder is expired, not sent CB_RECALL");
        Assert.Equal(NfsStat4.BadSession, await holder.Session.RenewAsync().Bounded());
        Assert.Equal(NfsStat4.Ok, await bystander.RenewAsync().Bounded()); // only the client in the way went
    }
}
