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

    private static async Task<bool> Ok<T>(Task<Nfs4Result<T>> call) => (await call).IsOk;
}
