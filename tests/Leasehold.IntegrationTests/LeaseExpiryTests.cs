using Leasehold.Nfs4.Client;
using Leasehold.Testing;

namespace Leasehold.IntegrationTests;

/// <summary>A server with a 3 s lease on a <see cref="ManualTimeProvider"/>: the tests move its clock, never sleep.</summary>
public class ShortLeaseServerFixture : ServerFixture
{
    public ManualTimeProvider Clock { get; } = new();

    public override TimeSpan LeaseTime => TimeSpan.FromSeconds(3);

    public override TimeProvider Time => Clock;

    /// <summary>How long a silent client with state is kept as a courtesy client here (the default is 24 h).</summary>
    public static readonly TimeSpan CourtesyTime = TimeSpan.FromSeconds(30);

    protected override void Configure(IDictionary<string, string?> settings) =>
        settings["Nfs4:CourtesyTime"] = CourtesyTime.ToString();
}

/// <summary>Short leases with courtesy clients turned off (<c>Nfs4:CourtesyTime</c> 0): a silent client is expired with its lease.</summary>
public sealed class NoCourtesyServerFixture : ShortLeaseServerFixture
{
    protected override void Configure(IDictionary<string, string?> settings) => settings["Nfs4:CourtesyTime"] = "00:00:00";
}

/// <summary>
/// With courtesy clients off, a client that stops sending SEQUENCE loses its lease: its sessions go (BADSESSION) and
/// its opens are released, so another client can open what they denied (RFC 8881 §8.3). The server sweeps every
/// lease/4, so a silent client is gone at most 1.25 leases after its last SEQUENCE. (With courtesy clients, the
/// default, see <see cref="CourtesyClientTests"/>.)
/// </summary>
public sealed class LeaseExpiryTests(NoCourtesyServerFixture fx) : IClassFixture<NoCourtesyServerFixture>
{
    [Fact]
    public async Task A_client_that_stops_renewing_loses_its_session_and_its_opens()
    {
        await using var silent = await fx.ConnectAsync();
        await using var active = await fx.ConnectAsync();
        var root = (await active.LookupPathAsync("").Bounded()).ValueOrThrow();
        string name = ServerFixture.NewName("leased");
        var held = (await silent.OpenAsync(root, name, ShareAccess.Both, OpenHow.Unchecked(), ShareDeny.Both).Bounded()).ValueOrThrow();
        var locked = await silent.LockAsync(held.FileHandle, LockType.Write, 0, ulong.MaxValue, Locker.FromOpen(held.StateId, silent.NewOwner("lock"))).Bounded();
        Assert.Equal(NfsStat4.Ok, locked.Status);
        Assert.Equal(NfsStat4.ShareDenied, (await active.OpenAsync(root, name, ShareAccess.Read).Bounded()).Status);

        // Just short of the lease the silent client keeps everything (the active one renews as it goes).
        fx.Clock.Advance(fx.LeaseTime * 0.5);
        Assert.Equal(NfsStat4.Ok, await active.RenewAsync().Bounded());
        fx.Clock.Advance(fx.LeaseTime * 0.45);
        Assert.Equal(NfsStat4.Ok, await active.RenewAsync().Bounded());
        Assert.Equal(NfsStat4.ShareDenied, (await active.OpenAsync(root, name, ShareAccess.Read).Bounded()).Status);

        // Past 1.25 leases since its last SEQUENCE, it is gone.
        fx.Clock.Advance(fx.LeaseTime * 0.35);
        Assert.Equal(NfsStat4.Ok, await active.RenewAsync().Bounded()); // the active client, renewed 0.35 leases ago, is not
        Assert.Equal(NfsStat4.BadSession, await silent.RenewAsync().Bounded());

        // Its share reservation and its lock went with it.
        var taken = (await active.OpenAsync(root, name, ShareAccess.Both, deny: ShareDeny.Both).Bounded()).ValueOrThrow();
        var relocked = await active.LockAsync(taken.FileHandle, LockType.Write, 0, ulong.MaxValue, Locker.FromOpen(taken.StateId, active.NewOwner("lock"))).Bounded();
        Assert.Equal(NfsStat4.Ok, relocked.Status);
    }

    [Fact]
    public async Task A_client_that_renews_keeps_its_session_through_many_leases()
    {
        await using var session = await fx.ConnectAsync();
        for (int i = 0; i < 10; i++)
        {
            fx.Clock.Advance(fx.LeaseTime * 0.6);
            Assert.Equal(NfsStat4.Ok, await session.RenewAsync().Bounded());
        }
    }
}
