using System.Globalization;
using Leasehold.Nfs4.Client;

namespace Leasehold.IntegrationTests;

/// <summary>GETATTR against what the file really is on disk, and the change attribute across modifications.</summary>
public sealed class AttributeTests(ServerFixture fx) : IClassFixture<ServerFixture>
{
    private static readonly AttrBitmap Watched = AttrBitmap.Of(FileAttr.Change, FileAttr.Size, FileAttr.Mode, FileAttr.Owner,
        FileAttr.OwnerGroup, FileAttr.NumLinks, FileAttr.FileId, FileAttr.Type);

    private Nfs4Session S => fx.Session;

    [Fact]
    public async Task Owner_and_owner_group_are_the_numeric_uid_and_gid_of_the_file_on_disk()
    {
        var root = await fx.RootAsync();
        string name = ServerFixture.NewName("owned");
        var f = (await S.CreateAsync(root, name).Bounded()).ValueOrThrow();
        Assert.True((await S.CloseAsync(f.FileHandle, f.StateId).Bounded()).IsOk);
        string path = Path.Join(fx.ExportPath, name);

        // Created by root: 0 and 0, as the disk says.
        var before = (await S.GetAttrAsync(f.FileHandle, Watched).Bounded()).ValueOrThrow();
        var disk = Disk.Stat(path);
        Assert.Equal(disk.Uid.ToString(CultureInfo.InvariantCulture), before.Owner);
        Assert.Equal(disk.Gid.ToString(CultureInfo.InvariantCulture), before.OwnerGroup);

        // Given away behind the server's back: GETATTR follows the disk, numbers and no names (no idmapping).
        Disk.Chown(path, 4321, 8765);
        var after = (await S.GetAttrAsync(f.FileHandle, Watched).Bounded()).ValueOrThrow();
        Assert.Equal("4321", after.Owner);
        Assert.Equal("8765", after.OwnerGroup);
    }

    [Fact]
    public async Task Size_and_change_move_after_a_write()
    {
        var root = await fx.RootAsync();
        var f = (await S.CreateAsync(root, ServerFixture.NewName("grow")).Bounded()).ValueOrThrow();
        var before = (await S.GetAttrAsync(f.FileHandle, Watched).Bounded()).ValueOrThrow();
        Assert.Equal(0ul, before.Size);

        Assert.True((await S.WriteAsync(f.FileHandle, f.StateId, 0, new byte[5000]).Bounded()).IsOk);
        var after = (await S.GetAttrAsync(f.FileHandle, Watched).Bounded()).ValueOrThrow();
        Assert.Equal(5000ul, after.Size);
        Assert.NotEqual(before.Change, after.Change);
        Assert.True((await S.CloseAsync(f.FileHandle, f.StateId).Bounded()).IsOk);
    }

    [Fact]
    public async Task Change_differs_after_every_modification_even_within_one_clock_tick()
    {
        var root = await fx.RootAsync();
        var f = (await S.CreateAsync(root, ServerFixture.NewName("changes")).Bounded()).ValueOrThrow();
        var seen = new List<ulong> { (await S.GetAttrAsync(f.FileHandle, Watched).Bounded()).ValueOrThrow().Change!.Value };
        async Task Modified(string what, Task<bool> modification)
        {
            Assert.True(await modification.Bounded(), what);
            ulong change = (await S.GetAttrAsync(f.FileHandle, Watched).Bounded()).ValueOrThrow().Change!.Value;
            Assert.DoesNotContain(change, seen); // back to back, so a timestamp-only change attribute would repeat here
            seen.Add(change);
        }

        for (int i = 0; i < 5; i++)
            await Modified($"write {i}", Ok(S.WriteAsync(f.FileHandle, f.StateId, (ulong)i, new byte[] { (byte)i })));
        await Modified("chmod", Ok(S.SetAttrAsync(f.FileHandle, new SetAttributes { Mode = Convert.ToUInt32("600", 8) })));
        await Modified("truncate", Ok(S.SetAttrAsync(f.FileHandle, new SetAttributes { Size = 1 }, f.StateId)));
        await Modified("extend", Ok(S.SetAttrAsync(f.FileHandle, new SetAttributes { Size = 4096 }, f.StateId)));
        Assert.True((await S.CloseAsync(f.FileHandle, f.StateId).Bounded()).IsOk);
    }

    [Fact]
    public async Task A_directory_change_moves_when_an_entry_is_added_or_removed()
    {
        var root = await fx.RootAsync();
        var dir = (await S.MkdirAsync(root, ServerFixture.NewName("dirchange")).Bounded()).ValueOrThrow();
        ulong Change(FileAttributes a) => a.Change!.Value;
        ulong c0 = Change((await S.GetAttrAsync(dir, Watched).Bounded()).ValueOrThrow());

        var f = (await S.CreateAsync(dir, "entry").Bounded()).ValueOrThrow();
        Assert.Equal(c0, f.ChangeInfo.Before);
        ulong c1 = Change((await S.GetAttrAsync(dir, Watched).Bounded()).ValueOrThrow());
        Assert.NotEqual(c0, c1);
        Assert.Equal(c1, f.ChangeInfo.After);
        Assert.True((await S.CloseAsync(f.FileHandle, f.StateId).Bounded()).IsOk);

        var removed = (await S.RemoveAsync(dir, "entry").Bounded()).ValueOrThrow();
        ulong c2 = Change((await S.GetAttrAsync(dir, Watched).Bounded()).ValueOrThrow());
        Assert.NotEqual(c1, c2);
        Assert.Equal(c1, removed.Before);
        Assert.Equal(c2, removed.After);
    }

    [Fact]
    public async Task A_directory_change_info_is_atomic_and_chains_from_one_change_to_the_next()
    {
        // A Linux client keeps its cached entries, lookups and access results of a directory across its own CREATE,
        // OPEN(create), LINK, RENAME and REMOVE only when the reply's change_info4 is atomic and "before" is the change
        // it caches (RFC 8881 §3.3.6); otherwise it asks again (ACCESS, GETATTR and a LOOKUP per name) after each one.
        var root = await fx.RootAsync();
        var dir = (await S.MkdirAsync(root, ServerFixture.NewName("atomic")).Bounded()).ValueOrThrow();
        var other = (await S.MkdirAsync(root, ServerFixture.NewName("atomic-other")).Bounded()).ValueOrThrow();
        async Task<ulong> ChangeOf(FileHandle d) => (await S.GetAttrAsync(d, Watched).Bounded()).ValueOrThrow().Change!.Value;
        async Task Chained(string what, ChangeInfo info, FileHandle d, ulong cached)
        {
            Assert.True(info.Atomic, what);
            Assert.Equal(cached, info.Before);
            Assert.Equal(await ChangeOf(d), info.After);
        }

        ulong c = await ChangeOf(dir);
        var f = (await S.CreateAsync(dir, "a").Bounded()).ValueOrThrow();
        await Chained("OPEN create", f.ChangeInfo, dir, c);
        Assert.True((await S.CloseAsync(f.FileHandle, f.StateId).Bounded()).IsOk);

        c = await ChangeOf(dir);
        await Chained("LINK", (await S.LinkAsync(f.FileHandle, dir, "b").Bounded()).ValueOrThrow(), dir, c);

        c = await ChangeOf(dir);
        var within = (await S.RenameAsync(dir, "a", dir, "c").Bounded()).ValueOrThrow();
        await Chained("RENAME source, same directory", within.Source, dir, c);
        Assert.Equal(within.Source, within.Target);

        c = await ChangeOf(dir);
        ulong o = await ChangeOf(other);
        var across = (await S.RenameAsync(dir, "c", other, "c").Bounded()).ValueOrThrow();
        await Chained("RENAME source", across.Source, dir, c);
        await Chained("RENAME target", across.Target, other, o);

        c = await ChangeOf(dir);
        using (var mkdir = new CompoundBuilder("mkdir").PutFh(dir).CreateDirectory("sub"))
        {
            var reply = await S.CompoundAsync(mkdir).Bounded();
            Assert.True(reply.IsOk);
            await Chained("CREATE directory", reply.Get<CreateResult>().ChangeInfo, dir, c);
        }

        c = await ChangeOf(dir);
        await Chained("REMOVE", (await S.RemoveAsync(dir, "b").Bounded()).ValueOrThrow(), dir, c);
    }

    [Fact]
    public async Task Opening_an_existing_name_reports_no_change_of_its_directory()
    {
        var root = await fx.RootAsync();
        var dir = (await S.MkdirAsync(root, ServerFixture.NewName("noatomic")).Bounded()).ValueOrThrow();
        var made = (await S.CreateAsync(dir, "x").Bounded()).ValueOrThrow();
        Assert.True((await S.CloseAsync(made.FileHandle, made.StateId).Bounded()).IsOk);
        ulong c = (await S.GetAttrAsync(dir, Watched).Bounded()).ValueOrThrow().Change!.Value;

        var opened = (await S.OpenAsync(dir, "x", ShareAccess.Read).Bounded()).ValueOrThrow();
        Assert.Equal(new ChangeInfo(false, c, c), opened.ChangeInfo);
        Assert.True((await S.CloseAsync(opened.FileHandle, opened.StateId).Bounded()).IsOk);
    }

    private static async Task<bool> Ok<T>(Task<Nfs4Result<T>> call) => (await call).IsOk;
}
