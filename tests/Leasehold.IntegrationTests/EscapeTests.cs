using Leasehold.Nfs4.Client;

namespace Leasehold.IntegrationTests;

/// <summary>
/// Attempts to leave the exported directory or to reach a file the server never handed out: names that walk, symlinks
/// that point out, LOOKUPP above the root, forged and random handles. Each must fail with the right error.
/// </summary>
public sealed class EscapeTests(ServerFixture fx) : IClassFixture<ServerFixture>
{
    private Nfs4Session S => fx.Session;

    [Fact]
    public async Task Lookup_of_dot_dot_is_BADNAME_at_the_root_and_below()
    {
        var root = await fx.RootAsync();
        Assert.Equal(NfsStat4.BadName, (await S.LookupAsync(root, "..").Bounded()).Status);
        Assert.Equal(NfsStat4.BadName, (await S.LookupAsync(root, ".").Bounded()).Status);
        var sub = (await S.MkdirAsync(root, ServerFixture.NewName("sub")).Bounded()).ValueOrThrow();
        Assert.Equal(NfsStat4.BadName, (await S.LookupAsync(sub, "..").Bounded()).Status);
    }

    [Theory]
    [InlineData("a/b")]
    [InlineData("../etc")]
    [InlineData("/etc")]
    [InlineData("sub/")]
    public async Task Lookup_of_a_name_with_a_slash_is_BADCHAR(string name)
    {
        var root = await fx.RootAsync();
        Directory.CreateDirectory(Path.Join(fx.ExportPath, "a", "b"));
        Assert.Equal(NfsStat4.BadChar, (await S.LookupAsync(root, name).Bounded()).Status);
    }

    [Fact]
    public async Task Creating_a_name_with_a_slash_or_dot_dot_fails_and_makes_nothing()
    {
        var root = await fx.RootAsync();
        Assert.Equal(NfsStat4.BadChar, (await S.CreateAsync(root, "x/../../escaped").Bounded()).Status);
        Assert.Equal(NfsStat4.BadName, (await S.MkdirAsync(root, "..").Bounded()).Status);
        Assert.False(File.Exists(Path.Join(Path.GetDirectoryName(fx.ExportPath), "escaped")));
    }

    [Fact]
    public async Task A_symlink_to_the_system_root_stays_a_symlink_and_is_never_followed()
    {
        var root = await fx.RootAsync();
        string name = ServerFixture.NewName("to-root");
        var link = (await S.SymlinkAsync(root, name, "/").Bounded()).ValueOrThrow();
        Assert.Equal(NfsFileType.Symlink, (await S.GetAttrAsync(link, AttrBitmap.Of(FileAttr.Type)).Bounded()).ValueOrThrow().Type);
        Assert.Equal("/", (await S.ReadLinkAsync(link).Bounded()).ValueOrThrow());

        // Looking up through it is SYMLINK (§18.15.4: the client resolves symlinks, the server never does).
        using (var c = new CompoundBuilder("through").PutRootFh().Lookup(name).Lookup("etc").GetFh())
        {
            var reply = await S.CompoundAsync(c).Bounded();
            Assert.Equal(NfsStat4.Symlink, reply.Status);
            Assert.Equal(NfsOpcode.Lookup, reply.Failed!.Op);
            Assert.Equal(4, reply.Results.Count); // SEQUENCE, PUTROOTFH and the first LOOKUP fine; the second failed
        }
        Assert.Equal(NfsStat4.Symlink, (await S.LookupAsync(link, "etc").Bounded()).Status);
        Assert.Equal(NfsStat4.Symlink, (await S.OpenAsync(root, name, ShareAccess.Read).Bounded()).Status);
        Assert.Equal(NfsStat4.Symlink, (await S.CreateAsync(link, "planted").Bounded()).Status);
        // As Linux nfsd (nfsd_mode_check: a symlink where a directory is wanted is SYMLINK in v4, NOTDIR in v3).
        Assert.Equal(NfsStat4.Symlink, (await S.ReadDirAsync(link).Bounded()).Status);
    }

    [Fact]
    public async Task A_symlink_planted_on_disk_pointing_outside_is_not_followed_either()
    {
        string name = ServerFixture.NewName("to-etc");
        File.CreateSymbolicLink(Path.Join(fx.ExportPath, name), "/etc");
        var root = await fx.RootAsync();
        var link = (await S.LookupAsync(root, name).Bounded()).ValueOrThrow();
        Assert.Equal(NfsStat4.Symlink, (await S.LookupAsync(link, "passwd").Bounded()).Status);
        Assert.Equal(NfsStat4.Symlink, (await S.OpenAsync(link, "passwd", ShareAccess.Read).Bounded()).Status);
    }

    [Fact]
    public async Task Setattr_read_and_write_on_a_symlink_handle_never_reach_the_file_it_points_to()
    {
        // A file outside the export, and a link to it inside (made on disk, as a local user could).
        string outside = Path.Join(fx.Root, ServerFixture.NewName("outside"));
        await File.WriteAllTextAsync(outside, "secret");
        File.SetUnixFileMode(outside, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        string name = ServerFixture.NewName("to-outside");
        File.CreateSymbolicLink(Path.Join(fx.ExportPath, name), outside);
        var link = (await S.LookupAsync(await fx.RootAsync(), name).Bounded()).ValueOrThrow();

        var chmod = await S.SetAttrAsync(link, new SetAttributes { Mode = Convert.ToUInt32("666", 8) }).Bounded();
        var truncate = await S.SetAttrAsync(link, new SetAttributes { Size = 0 }).Bounded();
        var chown = await S.SetAttrAsync(link, new SetAttributes { Owner = "4242" }).Bounded();
        var read = await S.ReadAsync(link, StateId.Anonymous, 0, 100).Bounded();
        var write = await S.WriteAsync(link, StateId.Anonymous, 0, ServerFixture.Bytes("pwned")).Bounded();

        Assert.Equal(NfsStat4.Inval, truncate.Status); // a size only for regular files (§18.30.4)
        Assert.NotEqual(NfsStat4.Ok, read.Status); // WRONG_TYPE today; see Read_and_lockt_of_a_symlink_handle_are_SYMLINK
        Assert.NotEqual(NfsStat4.Ok, write.Status);
        var target = Disk.Stat(outside);
        Assert.Equal("secret", await File.ReadAllTextAsync(outside));
        Assert.Equal(Convert.ToUInt32("600", 8), target.Mode & 0xFFF);
        Assert.Equal(0u, target.Uid);
        // Whatever SETATTR did, it did to the link itself (chmod of a symlink is dropped, as knfsd does; chown is lchown).
        Assert.True(chmod.IsOk, chmod.ToString());
        Assert.True(chown.IsOk, chown.ToString());
        Assert.Equal(4242u, Disk.Stat(Path.Join(fx.ExportPath, name)).Uid);
    }

    [Fact]
    public async Task Read_and_lockt_of_a_symlink_handle_are_SYMLINK()
    {
        var root = await fx.RootAsync();
        var link = (await S.SymlinkAsync(root, ServerFixture.NewName("link"), "target").Bounded()).ValueOrThrow();
        Assert.Equal(NfsStat4.Symlink, (await S.ReadAsync(link, StateId.Anonymous, 0, 10).Bounded()).Status);
        Assert.Equal(NfsStat4.Symlink, (await S.LockTestAsync(link, LockType.Read, 0, 1, S.NewOwner("probe")).Bounded()).Status);
    }

    [Fact]
    public async Task Lookupp_at_the_root_is_NOENT_and_below_it_gives_the_parent()
    {
        var root = await fx.RootAsync();
        using (var c = new CompoundBuilder("lookupp").PutRootFh().LookupP().GetFh())
            Assert.Equal(NfsStat4.NoEnt, (await S.CompoundAsync(c).Bounded()).Status);

        var sub = (await S.MkdirAsync(root, ServerFixture.NewName("child")).Bounded()).ValueOrThrow();
        using (var c = new CompoundBuilder("lookupp").PutFh(sub).LookupP().GetFh())
            Assert.Equal(root, (await S.CompoundAsync(c).Bounded()).ThrowIfFailed().Get<GetFhResult>().FileHandle);
        using (var c = new CompoundBuilder("lookupp").PutFh(sub).LookupP().LookupP())
            Assert.Equal(NfsStat4.NoEnt, (await S.CompoundAsync(c).Bounded()).Status);
    }

    [Theory]
    [InlineData(0)]   // the version byte
    [InlineData(1)]   // the kernel handle type
    [InlineData(8)]   // inside the kernel handle: another inode
    [InlineData(-1)]  // the MAC
    public async Task Putfh_of_a_handle_with_one_byte_flipped_is_BADHANDLE(int position)
    {
        var root = await fx.RootAsync();
        string name = ServerFixture.NewName("genuine");
        var f = (await S.CreateAsync(root, name).Bounded()).ValueOrThrow();
        Assert.True((await S.CloseAsync(f.FileHandle, f.StateId).Bounded()).IsOk);
        byte[] bytes = f.FileHandle.Bytes.ToArray();
        bytes[position < 0 ? bytes.Length + position : position] ^= 0x01;

        Assert.Equal(NfsStat4.BadHandle, (await S.GetAttrAsync(new FileHandle(bytes)).Bounded()).Status);
        Assert.True((await S.GetAttrAsync(f.FileHandle).Bounded()).IsOk); // the genuine one still works
    }

    [Theory]
    [InlineData(64)]
    [InlineData(128)]
    [InlineData(1)]
    public async Task Putfh_of_random_bytes_is_BADHANDLE(int length)
    {
        var random = new FileHandle(Random.Shared.GetItems<byte>(Enumerable.Range(0, 256).Select(i => (byte)i).ToArray(), length));
        var reply = await S.GetAttrAsync(random).Bounded();
        Assert.Equal(NfsStat4.BadHandle, reply.Status);
        Assert.Equal(NfsOpcode.PutFh, reply.FailedOp);
    }

    [Fact]
    public async Task Putfh_of_an_empty_handle_is_BADHANDLE()
    {
        Assert.Equal(NfsStat4.BadHandle, (await S.GetAttrAsync(new FileHandle([])).Bounded()).Status);
    }
}
