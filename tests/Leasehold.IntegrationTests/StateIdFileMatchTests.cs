using Leasehold.Nfs4.Client;

namespace Leasehold.IntegrationTests;

/// <summary>
/// A stateid names state on one file: used with another file as the current filehandle it is NFS4ERR_BAD_STATEID for
/// every operation that takes it (RFC 8881 §8.2.4; knfsd's nfs4_check_fh), so an open's access or deny mode never
/// applies to, or changes, a file it was not granted on.
/// </summary>
public sealed class StateIdFileMatchTests(ServerFixture fx) : IClassFixture<ServerFixture>
{
    private Nfs4Session S => fx.Session;

    [Fact]
    public async Task An_open_or_lock_stateid_used_on_another_file_is_BAD_STATEID_and_changes_nothing()
    {
        var root = await fx.RootAsync();
        var mine = (await S.CreateAsync(root, ServerFixture.NewName("mine")).Bounded()).ValueOrThrow();
        var other = (await S.CreateAsync(root, ServerFixture.NewName("other")).Bounded()).ValueOrThrow();
        var locked = await S.LockAsync(mine.FileHandle, LockType.Write, 0, 1, Locker.FromOpen(mine.StateId, S.NewOwner("lock"))).Bounded();
        Assert.Equal(NfsStat4.Ok, locked.Status);
        var fh = other.FileHandle;

        foreach (var id in new[] { mine.StateId, locked.StateId })
        {
            Assert.Equal(NfsStat4.BadStateId, (await S.ReadAsync(fh, id, 0, 1).Bounded()).Status);
            Assert.Equal(NfsStat4.BadStateId, (await S.WriteAsync(fh, id, 0, ServerFixture.Bytes("x")).Bounded()).Status);
            Assert.Equal(NfsStat4.BadStateId, (await S.SetAttrAsync(fh, new SetAttributes { Size = 0 }, id).Bounded()).Status);
        }
        Assert.Equal(NfsStat4.BadStateId, (await S.LockAsync(fh, LockType.Write, 0, 1, Locker.Existing(locked.StateId)).Bounded()).Status);
        Assert.Equal(NfsStat4.BadStateId, (await S.UnlockAsync(fh, LockType.Write, locked.StateId, 0, 1).Bounded()).Status);
        Assert.Equal(NfsStat4.BadStateId, (await S.OpenDowngradeAsync(fh, mine.StateId, ShareAccess.Read).Bounded()).Status);
        Assert.Equal(NfsStat4.BadStateId, (await S.CloseAsync(fh, mine.StateId).Bounded()).Status);

        // The open kept its write access: a write through it on its own file still lands.
        Assert.Equal(NfsStat4.Ok, (await S.WriteAsync(mine.FileHandle, mine.StateId, 0, ServerFixture.Bytes("x")).Bounded()).Status);
    }
}
