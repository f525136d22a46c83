using Leasehold.IntegrationTests.Delegations;
using Leasehold.Nfs4.Client;
using Leasehold.Nfs4.Client.Callbacks;
using Xunit.Abstractions;

namespace Leasehold.IntegrationTests.Recovery;

/// <summary>
/// Issue 10's scenario after a crash (RFC 8881 §8.4.2.1): a client holding an open, a byte-range lock and a write
/// delegation; the server is killed with SIGKILL and started again on the same state directory. The client's record
/// survived the kill (SQLite, WAL, synced), so the new server runs a grace period: the client reclaims all three, a
/// newcomer's LOCK gets NFS4ERR_GRACE until the reclaiming client's RECLAIM_COMPLETE ends it early, is DENIED while the
/// reclaimed lock holds, and granted after the unlock. The reclaimed delegation is recalled like any other.
/// </summary>
public sealed class CrashReclaimTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly ProcessServerFixture _server = new();

    public Task InitializeAsync() => _server.InitializeAsync();

    public async Task DisposeAsync()
    {
        output.WriteLine(_server.Log);
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task An_open_a_lock_and_a_delegation_are_reclaimed_after_a_SIGKILL()
    {
        string owner = ServerFixture.NewName("crash-holder");
        FileHandle file;
        await using (var before = await _server.ConnectAsync(options: new Nfs4SessionOptions { OwnerId = owner, CallbackHandler = new RecordingCallbackHandler() }))
        {
            var root = (await before.LookupPathAsync("").Bounded()).ValueOrThrow();
            var made = (await before.OpenAsync(root, "held", ShareAccess.Both, OpenHow.Unchecked()).Bounded()).ValueOrThrow();
            file = made.FileHandle;
            Assert.Equal(DelegationType.Write, made.Delegation.Type);
            Assert.True((await before.WriteAsync(file, made.StateId, 0, ServerFixture.Bytes("before\n"), StableHow.FileSync).Bounded()).IsOk);
            Assert.Equal(NfsStat4.Ok, (await before.LockAsync(file, LockType.Write, 0, 100, Locker.FromOpen(made.StateId, before.NewOwner("lock"))).Bounded()).Status);
            await _server.KillAsync();
            await before.Rpc.Completion.Bounded();
        }
        await _server.StartAsync();

        var handler = new RecordingCallbackHandler();
        await using var back = await _server.ConnectAsync(options: new Nfs4SessionOptions { OwnerId = owner, ReclaimComplete = false, CallbackHandler = handler });
        await using var newcomer = await _server.ConnectAsync(options: new Nfs4SessionOptions { BackChannel = false });
        var theirs = (await newcomer.OpenAsync(file, OpenClaim.Fh, ShareAccess.Both, ShareDeny.None).Bounded());
        Assert.Equal(NfsStat4.Grace, theirs.Status); // a new open waits for the grace period

        var open = (await Reclaim.OpenAsync(back, file, ShareAccess.Both, held: DelegationType.Write)).ValueOrThrow();
        Assert.Equal(DelegationType.Write, open.Delegation.Type);
        var locked = await Reclaim.LockAsync(back, file, open.StateId, back.NewOwner("lock"), LockType.Write, 0, 100);
        Assert.Equal(NfsStat4.Ok, locked.Status);
        Assert.Equal(NfsStat4.Ok, await Reclaim.CompleteAsync(back)); // the only recorded client: grace is over

        // The newcomer's OPEN recalls the reclaimed write delegation; then its LOCK meets the reclaimed lock.
        Assert.Equal(NfsStat4.Delay, (await newcomer.OpenAsync(file, OpenClaim.Fh, ShareAccess.Both, ShareDeny.None).Bounded()).Status);
        using (var timeout = new CancellationTokenSource(Waits.Timeout))
            Assert.Equal(open.Delegation.StateId, (await handler.Recalls.ReadAsync(timeout.Token)).StateId);
        Assert.Equal(NfsStat4.Ok, await back.DelegReturnAsync(file, open.Delegation.StateId).Bounded());
        OpenedFile? mine = null;
        Assert.Equal(NfsStat4.Ok, await DelegationClient.RetryWhileDelayAsync(async () =>
        {
            var r = await newcomer.OpenAsync(file, OpenClaim.Fh, ShareAccess.Both, ShareDeny.None);
            mine = r.IsOk ? r.Value : null;
            return r.Status;
        }));
        var lockOwner = newcomer.NewOwner("lock");
        Assert.Equal(NfsStat4.Denied, (await newcomer.LockAsync(file, LockType.Write, 50, 10, Locker.FromOpen(mine!.StateId, lockOwner)).Bounded()).Status);
        Assert.True((await back.UnlockAsync(file, LockType.Write, locked.StateId, 0, 100).Bounded()).IsOk);
        Assert.Equal(NfsStat4.Ok, (await newcomer.LockAsync(file, LockType.Write, 50, 10, Locker.FromOpen(mine.StateId, lockOwner)).Bounded()).Status);

        var data = (await newcomer.ReadAsync(file, mine.StateId, 0, 100).Bounded()).ValueOrThrow();
        Assert.Equal("before\n", System.Text.Encoding.UTF8.GetString(data.Data.Span));
    }
}
