using Leasehold.Nfs4.Admin;
using Leasehold.Nfs4.Client;
using Leasehold.Nfs4.Client.Callbacks;

namespace Leasehold.IntegrationTests;

/// <summary>
/// Blocking locks (RFC 8881 §9.6, §20.11): OPEN says OPEN4_RESULT_MAY_NOTIFY_LOCK; a READW/WRITEW LOCK that is
/// denied is remembered, shown by `leasehold locks` as WAITING, and its client is sent CB_NOTIFY_LOCK when the lock in
/// the way goes, so it asks again at once instead of at its next poll. A non-blocking LOCK that is denied is not.
/// </summary>
public sealed class LockNotifyTests(ServerFixture fx) : IClassFixture<ServerFixture>
{
    private const uint MayNotifyLock = 0x20;

    private ServerAdmin Admin => new(fx.Service.Nfs ?? throw new InvalidOperationException("The server is not running."));

    private async Task<(Nfs4Session Session, RecordingCallbackHandler Handler)> ConnectAsync()
    {
        var handler = new RecordingCallbackHandler();
        return (await fx.ConnectAsync(options: new Nfs4SessionOptions { CallbackHandler = handler }), handler);
    }

    [Fact]
    public async Task A_denied_blocking_lock_waits_visibly_and_hears_CB_NOTIFY_LOCK_when_the_lock_in_its_way_goes()
    {
        var a = await fx.ConnectAsync(options: new Nfs4SessionOptions { BackChannel = false }); // no delegation to recall from it
        var (b, bCalls) = await ConnectAsync();
        await using var sessionA = a;
        await using var sessionB = b;
        var root = await fx.RootAsync();
        string name = ServerFixture.NewName("notify-lock");
        var opened = (await a.CreateAsync(root, name).Bounded()).ValueOrThrow();
        var other = (await b.OpenAsync(root, name, ShareAccess.Both).Bounded()).ValueOrThrow();
        Assert.NotEqual(0u, other.ResultFlags & MayNotifyLock);
        var held = await a.LockAsync(opened.FileHandle, LockType.Write, 0, 10, Locker.FromOpen(opened.StateId, a.NewOwner("holder"))).Bounded();
        Assert.Equal(NfsStat4.Ok, held.Status);

        // A non-blocking LOCK that is denied is not remembered; a blocking one is, and waits.
        var lockerB = Locker.FromOpen(other.StateId, b.NewOwner("waiter"));
        Assert.Equal(NfsStat4.Denied, (await b.LockAsync(other.FileHandle, LockType.Write, 5, 1, Locker.FromOpen(other.StateId, b.NewOwner("try"))).Bounded()).Status);
        Assert.DoesNotContain(Admin.Locks(), l => l.Path == "/" + name && l.State == "WAITING");
        Assert.Equal(NfsStat4.Denied, (await b.LockAsync(other.FileHandle, LockType.WriteBlocking, 5, 10, lockerB).Bounded()).Status);
        var rows = Admin.Locks().Where(l => l.Path == "/" + name && l.Kind == "RANGE").ToList();
        var waiting = Assert.Single(rows, l => l.State == "WAITING");
        Assert.Equal((b.ClientId.ToString("x16"), "WRITE", "5-14"), (waiting.Client, waiting.Mode, waiting.Range));
        Assert.Equal(1, Assert.Single(rows, l => l.State == "ACTIVE").WaitingBreakers);
        Assert.False(bCalls.LockNotices.TryPeek(out _), "notified while the lock is still held");

        Assert.True((await a.UnlockAsync(opened.FileHandle, LockType.Write, held.StateId, 0, 10).Bounded()).IsOk);

        using var timeout = new CancellationTokenSource(Waits.Timeout);
        var notice = await bCalls.LockNotices.ReadAsync(timeout.Token);
        Assert.Equal((other.FileHandle, b.ClientId), (notice.FileHandle, notice.ClientId));
        Assert.Equal(lockerB.Owner!.Owner, notice.Owner);
        Assert.Equal(NfsStat4.Ok, (await b.LockAsync(other.FileHandle, LockType.WriteBlocking, 5, 10, lockerB).Bounded()).Status);
        Assert.DoesNotContain(Admin.Locks(), l => l.Path == "/" + name && l.State == "WAITING");
    }
}
