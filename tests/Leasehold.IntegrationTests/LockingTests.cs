using Leasehold.Nfs4.Client;

namespace Leasehold.IntegrationTests;

/// <summary>
/// Byte-range locks and share reservations between two clients (two sessions, two client owners) on one file, as two
/// machines mounting the same export would see them.
/// </summary>
public sealed class LockingTests(ServerFixture fixture) : TwoClientTests(fixture), IClassFixture<ServerFixture>
{
    /// <summary>A new file, open for read and write by both clients, each under its own open-owner.</summary>
    private async Task<(OpenedFile A, OpenedFile B)> BothOpenAsync()
    {
        var root = await Fx.RootAsync();
        string name = ServerFixture.NewName("locked");
        var a = (await A.CreateAsync(root, name).Bounded()).ValueOrThrow();
        var b = (await B.OpenAsync(root, name, ShareAccess.Both).Bounded()).ValueOrThrow();
        Assert.Equal(a.FileHandle, b.FileHandle);
        return (a, b);
    }

    [Fact]
    public async Task A_write_lock_denies_an_overlapping_lock_of_another_client_and_names_the_holder()
    {
        var (a, b) = await BothOpenAsync();
        var ownerA = A.NewOwner("lock");
        var held = await A.LockAsync(a.FileHandle, LockType.Write, 100, 50, Locker.FromOpen(a.StateId, ownerA)).Bounded();
        Assert.Equal(NfsStat4.Ok, held.Status);

        var denied = await B.LockAsync(b.FileHandle, LockType.Write, 120, 1000, Locker.FromOpen(b.StateId, B.NewOwner("lock"))).Bounded();
        Assert.Equal(NfsStat4.Denied, denied.Status);
        Assert.Equal((100ul, 50ul, LockType.Write), (denied.Denied!.Offset, denied.Denied.Length, denied.Denied.Type));
        Assert.Equal(A.ClientId, denied.Denied.Owner.ClientId);
        Assert.Equal(ownerA.Owner, denied.Denied.Owner.Owner);

        // A read lock overlapping a write lock is denied too; a lock beside it is not.
        var readDenied = await B.LockAsync(b.FileHandle, LockType.Read, 149, 1, Locker.FromOpen(b.StateId, B.NewOwner("lock"))).Bounded();
        Assert.Equal(NfsStat4.Denied, readDenied.Status);
        var beside = await B.LockAsync(b.FileHandle, LockType.Write, 150, 10, Locker.FromOpen(b.StateId, B.NewOwner("lock"))).Bounded();
        Assert.Equal(NfsStat4.Ok, beside.Status);
    }

    [Fact]
    public async Task Lockt_reports_the_conflicting_lock_without_taking_one()
    {
        var (a, b) = await BothOpenAsync();
        var ownerA = A.NewOwner("lock");
        Assert.Equal(NfsStat4.Ok, (await A.LockAsync(a.FileHandle, LockType.Write, 0, 10, Locker.FromOpen(a.StateId, ownerA)).Bounded()).Status);
        var ownerB = B.NewOwner("lock");

        var test = await B.LockTestAsync(b.FileHandle, LockType.Read, 5, 1, ownerB).Bounded();
        Assert.Equal(NfsStat4.Denied, test.Status);
        Assert.Equal(0ul, test.Denied!.Offset);
        Assert.Equal(10ul, test.Denied.Length);
        Assert.Equal(LockType.Write, test.Denied.Type);
        Assert.Equal(A.ClientId, test.Denied.Owner.ClientId);
        Assert.Equal(ownerA.Owner, test.Denied.Owner.Owner);

        Assert.Equal(NfsStat4.Ok, (await B.LockTestAsync(b.FileHandle, LockType.Write, 10, ulong.MaxValue, ownerB).Bounded()).Status);
        // The holder's own test never conflicts with itself.
        Assert.Equal(NfsStat4.Ok, (await A.LockTestAsync(a.FileHandle, LockType.Write, 0, 10, ownerA).Bounded()).Status);
    }

    [Fact]
    public async Task After_locku_the_other_client_gets_the_lock()
    {
        var (a, b) = await BothOpenAsync();
        var held = await A.LockAsync(a.FileHandle, LockType.Write, 0, ulong.MaxValue, Locker.FromOpen(a.StateId, A.NewOwner("lock"))).Bounded();
        Assert.Equal(NfsStat4.Ok, held.Status);
        var lockerB = Locker.FromOpen(b.StateId, B.NewOwner("lock"));
        Assert.Equal(NfsStat4.Denied, (await B.LockAsync(b.FileHandle, LockType.Write, 4096, 1, lockerB).Bounded()).Status);

        var unlocked = await A.UnlockAsync(a.FileHandle, LockType.Write, held.StateId, 0, ulong.MaxValue).Bounded();
        Assert.True(unlocked.IsOk, unlocked.ToString());
        Assert.True(unlocked.Value.SeqId > held.StateId.SeqId, "LOCKU bumps the lock stateid's seqid");

        var granted = await B.LockAsync(b.FileHandle, LockType.Write, 4096, 1, lockerB).Bounded();
        Assert.Equal(NfsStat4.Ok, granted.Status);
        Assert.Equal(NfsStat4.Denied, (await A.LockTestAsync(a.FileHandle, LockType.Read, 0, ulong.MaxValue, A.NewOwner("probe")).Bounded()).Status);
    }

    [Fact]
    public async Task Read_locks_of_two_clients_coexist_and_keep_writers_out()
    {
        var (a, b) = await BothOpenAsync();
        Assert.Equal(NfsStat4.Ok, (await A.LockAsync(a.FileHandle, LockType.Read, 0, 100, Locker.FromOpen(a.StateId, A.NewOwner("lock"))).Bounded()).Status);
        Assert.Equal(NfsStat4.Ok, (await B.LockAsync(b.FileHandle, LockType.Read, 50, 100, Locker.FromOpen(b.StateId, B.NewOwner("lock"))).Bounded()).Status);

        var writer = await A.LockTestAsync(a.FileHandle, LockType.Write, 60, 1, A.NewOwner("writer")).Bounded();
        Assert.Equal(NfsStat4.Denied, writer.Status);
        Assert.Equal(LockType.Read, writer.Denied!.Type);
    }

    [Fact]
    public async Task Close_with_locks_held_is_LOCKS_HELD_until_they_are_released()
    {
        var (a, b) = await BothOpenAsync();
        var held = await A.LockAsync(a.FileHandle, LockType.Write, 0, 1, Locker.FromOpen(a.StateId, A.NewOwner("lock"))).Bounded();
        Assert.Equal(NfsStat4.Ok, held.Status);

        Assert.Equal(NfsStat4.LocksHeld, (await A.CloseAsync(a.FileHandle, a.StateId).Bounded()).Status);
        Assert.Equal(NfsStat4.Denied, (await B.LockTestAsync(b.FileHandle, LockType.Write, 0, 1, B.NewOwner("probe")).Bounded()).Status);

        Assert.True((await A.UnlockAsync(a.FileHandle, LockType.Write, held.StateId, 0, 1).Bounded()).IsOk);
        Assert.True((await A.CloseAsync(a.FileHandle, a.StateId).Bounded()).IsOk);
        Assert.True((await B.CloseAsync(b.FileHandle, b.StateId).Bounded()).IsOk);
    }

    [Fact]
    public async Task A_lock_owner_upgrades_with_its_lock_stateid_and_a_partial_locku_frees_only_that_part()
    {
        var (a, b) = await BothOpenAsync();
        var first = await A.LockAsync(a.FileHandle, LockType.Read, 0, 100, Locker.FromOpen(a.StateId, A.NewOwner("lock"))).Bounded();
        Assert.Equal(NfsStat4.Ok, first.Status);

        var upgraded = await A.LockAsync(a.FileHandle, LockType.Write, 0, 100, Locker.Existing(first.StateId)).Bounded();
        Assert.Equal(NfsStat4.Ok, upgraded.Status);
        Assert.Equal(first.StateId.Other, upgraded.StateId.Other); // the same lock state, a newer seqid
        Assert.True(upgraded.StateId.SeqId > first.StateId.SeqId);
        var ownerB = B.NewOwner("lock");
        Assert.Equal(LockType.Write, (await B.LockTestAsync(b.FileHandle, LockType.Read, 50, 1, ownerB).Bounded()).Denied?.Type);

        var middle = await A.UnlockAsync(a.FileHandle, LockType.Write, upgraded.StateId, 40, 20).Bounded();
        Assert.True(middle.IsOk, middle.ToString());
        Assert.Equal(NfsStat4.Ok, (await B.LockTestAsync(b.FileHandle, LockType.Write, 40, 20, ownerB).Bounded()).Status);
        var left = await B.LockTestAsync(b.FileHandle, LockType.Write, 39, 2, ownerB).Bounded();
        Assert.Equal((0ul, 40ul), (left.Denied!.Offset, left.Denied.Length));
        var right = await B.LockTestAsync(b.FileHandle, LockType.Write, 59, 2, ownerB).Bounded();
        Assert.Equal((60ul, 40ul), (right.Denied!.Offset, right.Denied.Length));

        // An old seqid of the lock stateid is OLD_STATEID (§8.2.2).
        Assert.Equal(NfsStat4.OldStateId, (await A.UnlockAsync(a.FileHandle, LockType.Write, first.StateId, 0, 100).Bounded()).Status);
    }

    [Fact]
    public async Task Open_denying_write_makes_another_clients_open_for_write_SHARE_DENIED()
    {
        var root = await Fx.RootAsync();
        string name = ServerFixture.NewName("shared");
        var created = (await A.CreateAsync(root, name).Bounded()).ValueOrThrow();
        Assert.True((await A.CloseAsync(created.FileHandle, created.StateId).Bounded()).IsOk);

        // No delegation: this is about share reservations, and a read delegation would be recalled (DELAY) by B's write open.
        var a = (await A.OpenAsync(root, name, ShareAccess.Read | ShareAccess.WantNoDelegation, deny: ShareDeny.Write).Bounded()).ValueOrThrow();

        Assert.Equal(NfsStat4.ShareDenied, (await B.OpenAsync(root, name, ShareAccess.Write).Bounded()).Status);
        Assert.Equal(NfsStat4.ShareDenied, (await B.OpenAsync(root, name, ShareAccess.Both).Bounded()).Status);
        // B may read alongside, but not deny A's read.
        var reader = (await B.OpenAsync(root, name, ShareAccess.Read).Bounded()).ValueOrThrow();
        Assert.Equal(NfsStat4.ShareDenied, (await B.OpenAsync(root, name, ShareAccess.Read, deny: ShareDeny.Read, owner: B.NewOwner("open")).Bounded()).Status);

        // Once A closes, B can open for write.
        Assert.True((await A.CloseAsync(a.FileHandle, a.StateId).Bounded()).IsOk);
        var writer = (await B.OpenAsync(root, name, ShareAccess.Write, owner: B.NewOwner("open")).Bounded()).ValueOrThrow();
        Assert.True((await B.CloseAsync(writer.FileHandle, writer.StateId).Bounded()).IsOk);
        Assert.True((await B.CloseAsync(reader.FileHandle, reader.StateId).Bounded()).IsOk);
    }
}
