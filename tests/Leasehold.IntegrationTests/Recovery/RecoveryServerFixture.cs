using System.Text;
using Leasehold.Nfs4.Client;
using Leasehold.Testing;

namespace Leasehold.IntegrationTests.Recovery;

/// <summary>
/// The real server on a manual clock, for restart recovery (RFC 8881 §8.4.2.1): its client records are the SQLite
/// database in the fixture's state directory, kept across <see cref="ServerFixture.RestartAsync"/>. The clock moves only
/// in <see cref="AdvanceAsync"/>, which renews the root session and the sessions it is given on the way, so only the
/// clients a test leaves silent expire. Each test class that restarts has a server of its own: records that one test
/// leaves behind would make the next restart's grace period wait for them.
/// </summary>
public class RecoveryServerFixture : ServerFixture
{
    public ManualTimeProvider Clock { get; } = new();

    public override TimeProvider Time => Clock;

    /// <summary>Whether the running server is in its grace period.</summary>
    public bool InGrace => Service.Nfs?.InGrace ?? throw new InvalidOperationException("The server is not running.");

    /// <summary>The co_ownerids (as text) in the running server's client records, with their principals.</summary>
    public IReadOnlyDictionary<string, string> Records =>
        (Service.Records switch
        {
            global::Leasehold.Recovery.SqliteClientRecordStore sqlite => sqlite,
            FailingRecordStore failing => failing.Inner,
            _ => throw new InvalidOperationException("The server is not running."),
        }).ReadAll().ToDictionary(r => Encoding.UTF8.GetString(r.Record.OwnerId), r => r.Record.Principal);

    /// <summary>A new session under the co_ownerid <paramref name="owner"/>: a client that comes back after a restart uses the same one.</summary>
    public Task<Nfs4Session> ConnectAsAsync(string owner, bool reclaimComplete = true, bool backChannel = false, Leasehold.Rpc.Messages.RpcCredentials? credentials = null) =>
        ConnectAsync(credentials, new Nfs4SessionOptions { OwnerId = owner, ReclaimComplete = reclaimComplete, BackChannel = backChannel });

    /// <summary>
    /// Moves the server's clock by <paramref name="by"/> in steps of a quarter lease, renewing the root session and
    /// <paramref name="keep"/> after each step (the server's heartbeat runs every quarter lease on this clock).
    /// </summary>
    public async Task AdvanceAsync(TimeSpan by, params Nfs4Session[] keep)
    {
        var step = LeaseTime / 4;
        while (by > TimeSpan.Zero)
        {
            var now = by < step ? by : step;
            Clock.Advance(now);
            by -= now;
            Assert.Equal(NfsStat4.Ok, await Session.RenewAsync().Bounded());
            foreach (var session in keep)
                Assert.Equal(NfsStat4.Ok, await session.RenewAsync().Bounded());
        }
    }

    /// <summary>A new empty file, created and closed by the root session (which holds no state afterwards).</summary>
    public async Task<FileHandle> NewFileAsync(string prefix)
    {
        var f = (await Session.CreateAsync(await RootAsync(), NewName(prefix)).Bounded()).ValueOrThrow();
        Assert.True((await Session.CloseAsync(f.FileHandle, f.StateId).Bounded()).IsOk);
        return f.FileHandle;
    }
}

/// <summary>Reclaims as a client sends them after a restart.</summary>
public static class Reclaim
{
    /// <summary>PUTFH file, OPEN CLAIM_PREVIOUS (the delegation it held), GETFH.</summary>
    public static Task<Nfs4Result<OpenedFile>> OpenAsync(Nfs4Session client, FileHandle file, ShareAccess access, ShareDeny deny = ShareDeny.None,
        DelegationType held = DelegationType.None, StateOwner? owner = null) =>
        client.OpenAsync(file, OpenClaim.Previous(held), access, deny, owner).Bounded();

    /// <summary>LOCK with reclaim TRUE under a reclaimed open (a new lock-owner).</summary>
    public static async Task<LockResult> LockAsync(Nfs4Session client, FileHandle file, StateId open, StateOwner lockOwner, LockType type, ulong offset, ulong length)
    {
        using var c = new CompoundBuilder("lock_reclaim").PutFh(file).Lock(type, offset, length, Locker.FromOpen(open, lockOwner), reclaim: true);
        var reply = await client.CompoundAsync(c).Bounded();
        return reply.Find<LockResult>() ?? new LockResult(reply.Status, default, null);
    }

    /// <summary>RECLAIM_COMPLETE (rca_one_fs FALSE): its status.</summary>
    public static async Task<NfsStat4> CompleteAsync(Nfs4Session client)
    {
        using var rc = new CompoundBuilder("reclaim_complete").ReclaimComplete();
        return (await client.CompoundAsync(rc).Bounded()).Status;
    }
}
