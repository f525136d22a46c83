using Leasehold.Nfs4.Client;

namespace Leasehold.IntegrationTests;

/// <summary>
/// Share reservations are mandatory (RFC 8881 §9.1.2, §8.2.3, §18.30.3): I/O that no open covers — under the anonymous
/// or the all-ones stateid, or a READ through a write-only open — is NFS4ERR_LOCKED when an open denies it, whoever
/// holds that open (the same client too), and the file is left as it was. Through an open's own stateid the open's
/// access decides (NFS4ERR_OPENMODE).
/// </summary>
public sealed class ShareReservationIoTests(ServerFixture fixture) : TwoClientTests(fixture), IClassFixture<ServerFixture>
{
    private static readonly StateId[] Special = [StateId.Anonymous, StateId.ReadBypass];

    /// <summary>A file holding "original", made on disk, with its handle and path.</summary>
    private async Task<(FileHandle Root, string Name, FileHandle File, string Path)> FileAsync()
    {
        string name = ServerFixture.NewName("reserved");
        string path = Path.Join(Fx.ExportPath, name);
        await File.WriteAllTextAsync(path, "original");
        var root = await Fx.RootAsync();
        var file = (await B.LookupAsync(root, name).Bounded()).ValueOrThrow();
        return (root, name, file, path);
    }

    [Fact]
    public async Task Writes_and_truncation_under_special_stateids_are_LOCKED_while_an_open_denies_write()
    {
        var (root, name, file, path) = await FileAsync();
        // No delegation: this is about share reservations, and a read delegation would be recalled (DELAY) by B's SETATTR.
        var held = (await A.OpenAsync(root, name, ShareAccess.Read | ShareAccess.WantNoDelegation, deny: ShareDeny.Write).Bounded()).ValueOrThrow();

        foreach (var special in Special)
        {
            var write = await B.WriteAsync(file, special, 0, ServerFixture.Bytes("OVERWRITTEN")).Bounded();
            Assert.Equal(NfsStat4.Locked, write.Status);
            var truncate = await B.SetAttrAsync(file, new SetAttributes { Size = 0 }, special).Bounded();
            Assert.Equal(NfsStat4.Locked, truncate.Status);
            // The holder's own special-stateid writes are refused too: an anonymous write is no open-owner's.
            Assert.Equal(NfsStat4.Locked, (await A.WriteAsync(file, special, 0, ServerFixture.Bytes("mine")).Bounded()).Status);
        }
        // Another client's open stateid is no way in either: it names no state of this client (§8.2.4).
        Assert.Equal(NfsStat4.BadStateId, (await B.WriteAsync(file, held.StateId, 0, ServerFixture.Bytes("theirs")).Bounded()).Status);
        Assert.Equal("original", await File.ReadAllTextAsync(path));

        // Reading is not denied, and attributes other than the size are not data.
        Assert.Equal("original", Text((await B.ReadAsync(file, StateId.Anonymous, 0, 100).Bounded()).ValueOrThrow()));
        Assert.True((await B.SetAttrAsync(file, new SetAttributes { Mode = Convert.ToUInt32("640", 8) }, StateId.Anonymous).Bounded()).IsOk);

        // Once the reservation goes, the same write lands.
        Assert.True((await A.CloseAsync(held.FileHandle, held.StateId).Bounded()).IsOk);
        Assert.True((await B.WriteAsync(file, StateId.Anonymous, 0, ServerFixture.Bytes("OVERWRITTEN")).Bounded()).IsOk);
        Assert.Equal("OVERWRITTEN", await File.ReadAllTextAsync(path));
    }

    [Fact]
    public async Task Reads_under_special_stateids_are_LOCKED_while_an_open_denies_read()
    {
        var (root, name, file, path) = await FileAsync();
        var held = (await A.OpenAsync(root, name, ShareAccess.Write, deny: ShareDeny.Read).Bounded()).ValueOrThrow();

        foreach (var special in Special)
        {
            var read = await B.ReadAsync(file, special, 0, 100).Bounded();
            Assert.Equal(NfsStat4.Locked, read.Status);
            Assert.Equal(NfsStat4.Locked, (await A.ReadAsync(file, special, 0, 100).Bounded()).Status);
        }
        // Writing is not denied.
        Assert.True((await B.WriteAsync(file, StateId.Anonymous, 0, ServerFixture.Bytes("ORIGINAL")).Bounded()).IsOk);
        Assert.Equal("ORIGINAL", await File.ReadAllTextAsync(path));

        Assert.True((await A.CloseAsync(held.FileHandle, held.StateId).Bounded()).IsOk);
        Assert.Equal("ORIGINAL", Text((await B.ReadAsync(file, StateId.ReadBypass, 0, 100).Bounded()).ValueOrThrow()));
    }

    [Fact]
    public async Task Deny_both_stops_every_special_stateid_read_and_write()
    {
        var (root, name, file, path) = await FileAsync();
        var held = (await A.OpenAsync(root, name, ShareAccess.Read, deny: ShareDeny.Both).Bounded()).ValueOrThrow();

        foreach (var special in Special)
        {
            Assert.Equal(NfsStat4.Locked, (await B.ReadAsync(file, special, 0, 100).Bounded()).Status);
            Assert.Equal(NfsStat4.Locked, (await B.WriteAsync(file, special, 8, ServerFixture.Bytes("!")).Bounded()).Status);
            Assert.Equal(NfsStat4.Locked, (await B.SetAttrAsync(file, new SetAttributes { Size = 100 }, special).Bounded()).Status);
        }
        Assert.Equal("original", await File.ReadAllTextAsync(path));
        // The holder's own stateid reads.
        Assert.Equal("original", Text((await A.ReadAsync(held.FileHandle, held.StateId, 0, 100).Bounded()).ValueOrThrow()));
    }

    [Fact]
    public async Task A_read_through_a_write_only_open_works_unless_another_open_denies_read()
    {
        var (root, name, file, _) = await FileAsync();
        var writer = (await B.OpenAsync(root, name, ShareAccess.Write).Bounded()).ValueOrThrow();

        // §9.1.2 lets a server allow it (a client's writes may need reads), as knfsd does.
        Assert.Equal("original", Text((await B.ReadAsync(file, writer.StateId, 0, 100).Bounded()).ValueOrThrow()));

        // A write-only open does not stop another open from denying reads; its READs are then LOCKED.
        var denier = (await A.OpenAsync(root, name, ShareAccess.Write, deny: ShareDeny.Read).Bounded()).ValueOrThrow();
        Assert.Equal(NfsStat4.Locked, (await B.ReadAsync(file, writer.StateId, 0, 100).Bounded()).Status);
        // The denier's own deny does not stop its own write-only open reading (§9.7: deny modes are against others).
        Assert.Equal("original", Text((await A.ReadAsync(file, denier.StateId, 0, 100).Bounded()).ValueOrThrow()));
        // Writing through the write-only open is its access: not affected.
        Assert.True((await B.WriteAsync(file, writer.StateId, 0, ServerFixture.Bytes("O")).Bounded()).IsOk);

        Assert.True((await A.CloseAsync(denier.FileHandle, denier.StateId).Bounded()).IsOk);
        Assert.True((await B.ReadAsync(file, writer.StateId, 0, 100).Bounded()).IsOk);
    }

    [Fact]
    public async Task Writing_or_truncating_through_an_open_without_write_access_is_OPENMODE()
    {
        var (root, name, file, path) = await FileAsync();
        var reader = (await B.OpenAsync(root, name, ShareAccess.Read).Bounded()).ValueOrThrow();

        Assert.Equal(NfsStat4.OpenMode, (await B.WriteAsync(file, reader.StateId, 0, ServerFixture.Bytes("X")).Bounded()).Status);
        Assert.Equal(NfsStat4.OpenMode, (await B.SetAttrAsync(file, new SetAttributes { Size = 0 }, reader.StateId).Bounded()).Status);
        // A lock stateid carries its open's access.
        var locked = await B.LockAsync(file, LockType.Read, 0, 1, Locker.FromOpen(reader.StateId, B.NewOwner("lock"))).Bounded();
        Assert.Equal(NfsStat4.Ok, locked.Status);
        Assert.Equal(NfsStat4.OpenMode, (await B.SetAttrAsync(file, new SetAttributes { Size = 0 }, locked.StateId).Bounded()).Status);
        Assert.Equal("original", await File.ReadAllTextAsync(path));
    }

    [Fact]
    public async Task The_current_stateid_stands_for_the_open_it_names_and_is_BAD_STATEID_when_there_is_none()
    {
        var (root, name, file, path) = await FileAsync();
        var held = (await A.OpenAsync(root, name, ShareAccess.Read, deny: ShareDeny.Write).Bounded()).ValueOrThrow();

        // OPEN (read-only) then WRITE with the current stateid: that open's access decides.
        using (var c = new CompoundBuilder("open_then_write").PutFh(root)
            .Open(OpenClaim.ByName(name), ShareAccess.Read, ShareDeny.None, B.OpenOwner)
            .Write(StateId.Current, 0, ServerFixture.Bytes("X")))
        {
            var reply = await B.CompoundAsync(c).Bounded();
            Assert.Equal(NfsStat4.OpenMode, reply.Status);
            Assert.Equal(NfsOpcode.Write, reply.Failed?.Op);
        }
        // After PUTFH there is no current stateid: it is not a way around the reservation.
        using (var c = new CompoundBuilder("putfh_then_write").PutFh(file).Write(StateId.Current, 0, ServerFixture.Bytes("X")))
            Assert.Equal(NfsStat4.BadStateId, (await B.CompoundAsync(c).Bounded()).Status);
        using (var c = new CompoundBuilder("putfh_then_truncate").PutFh(file).SetAttr(new SetAttributes { Size = 0 }, StateId.Current))
            Assert.Equal(NfsStat4.BadStateId, (await B.CompoundAsync(c).Bounded()).Status);
        Assert.Equal("original", await File.ReadAllTextAsync(path));
        Assert.True((await A.CloseAsync(held.FileHandle, held.StateId).Bounded()).IsOk);
    }

    [Fact]
    public async Task An_open_that_would_deny_I_O_already_allowed_is_still_admitted_once_that_I_O_is_over()
    {
        // The special-stateid I/O registered for the race check (§9.1.2) must end with the operation, or it would
        // block later OPENs with deny modes for good.
        var (root, name, file, _) = await FileAsync();
        for (int i = 0; i < 5; i++)
        {
            Assert.True((await B.WriteAsync(file, StateId.Anonymous, 0, ServerFixture.Bytes("w")).Bounded()).IsOk);
            Assert.True((await B.ReadAsync(file, StateId.ReadBypass, 0, 1).Bounded()).IsOk);
            Assert.True((await B.SetAttrAsync(file, new SetAttributes { Size = 0 }, StateId.Anonymous).Bounded()).IsOk);
        }
        var denier = (await A.OpenAsync(root, name, ShareAccess.Read, deny: ShareDeny.Both).Bounded()).ValueOrThrow();
        Assert.True((await A.CloseAsync(denier.FileHandle, denier.StateId).Bounded()).IsOk);
    }

    [Fact]
    public async Task An_open_that_would_truncate_is_SHARE_DENIED_before_it_cuts_anything()
    {
        var (root, name, _, path) = await FileAsync();
        var held = (await A.OpenAsync(root, name, ShareAccess.Read, deny: ShareDeny.Write).Bounded()).ValueOrThrow();
        var truncating = OpenHow.Unchecked(new SetAttributes { Size = 0 });

        Assert.Equal(NfsStat4.ShareDenied, (await B.OpenAsync(root, name, ShareAccess.Write, truncating).Bounded()).Status);
        // Without write access the truncation is no valid request at all (knfsd checks that first): INVAL.
        Assert.Equal(NfsStat4.Inval, (await B.OpenAsync(root, name, ShareAccess.Read, truncating, owner: B.NewOwner("open")).Bounded()).Status);
        Assert.Equal("original", await File.ReadAllTextAsync(path));

        // The holder's own open-owner is not denied by its own reservation (§9.7).
        var own = (await A.OpenAsync(root, name, ShareAccess.Both, truncating).Bounded()).ValueOrThrow();
        Assert.Equal(held.StateId.Other, own.StateId.Other);
        Assert.Equal("", await File.ReadAllTextAsync(path));
    }

    private static string Text(ReadResult read) => System.Text.Encoding.UTF8.GetString(read.Data.Span);
}
