using Leasehold.Nfs4.Client;

namespace Leasehold.IntegrationTests.V42;

/// <summary>
/// The attributes of minor version 2 (RFC 7862 §12.2, RFC 8275, RFC 8276 §8.6) and their minor-version rule: a 4.2
/// COMPOUND supports change_attr_type, mode_umask, xattr_support and, on a filesystem that cannot clone (ext4 on /tmp
/// here), space_freed rather than clone_blksize; a 4.1 COMPOUND supports none of them and leaves them out of GETATTR,
/// as knfsd's nfsd_suppattrs[minorversion].
/// </summary>
public sealed class SpaceAttributeTests(ServerFixture fx) : IClassFixture<ServerFixture>
{
    private static readonly FileAttr[] Minor2Attributes =
        [FileAttr.CloneBlksize, FileAttr.SpaceFreed, FileAttr.ChangeAttrType, FileAttr.ModeUmask, FileAttr.XattrSupport,
         FileAttr.TimeDelegAccess, FileAttr.TimeDelegModify, FileAttr.OpenArguments];

    private Task<Nfs4Session> ConnectAsync(uint minorVersion) =>
        fx.ConnectAsync(options: new Nfs4SessionOptions { MinorVersion = minorVersion, BackChannel = false });

    [Fact]
    public async Task supported_attrs_lists_the_4_2_attributes_only_in_a_4_2_COMPOUND()
    {
        await using var v41 = await ConnectAsync(1);
        await using var v42 = await ConnectAsync(2);
        var root = await fx.RootAsync();

        var old = (await v41.GetAttrAsync(root, AttrBitmap.Of(FileAttr.SupportedAttrs)).Bounded()).ValueOrThrow().SupportedAttrs!;
        var now = (await v42.GetAttrAsync(root, AttrBitmap.Of(FileAttr.SupportedAttrs)).Bounded()).ValueOrThrow().SupportedAttrs!;

        Assert.DoesNotContain(old, a => Minor2Attributes.Contains(a));
        Assert.Equal([FileAttr.SpaceFreed, FileAttr.ChangeAttrType, FileAttr.ModeUmask, FileAttr.XattrSupport,
                FileAttr.TimeDelegAccess, FileAttr.TimeDelegModify, FileAttr.OpenArguments],
            now.Where(a => Minor2Attributes.Contains(a)).ToArray());
        Assert.Equal(old.ToArray(), now.Where(a => !Minor2Attributes.Contains(a)).ToArray()); // everything else as in 4.1
    }

    [Fact]
    public async Task A_4_2_GETATTR_reports_change_attr_type_xattr_support_and_space_freed_and_leaves_out_clone_blksize()
    {
        await using var s = await ConnectAsync(2);
        var root = await fx.RootAsync();
        string name = ServerFixture.NewName("attrs");
        var f = (await s.CreateAsync(root, name).Bounded()).ValueOrThrow();
        Assert.Equal(NfsStat4.Ok, (await s.WriteAsync(f.FileHandle, f.StateId, 0, new byte[3 * 4096]).Bounded()).Status);
        var asked = AttrBitmap.Of(FileAttr.SpaceUsed, FileAttr.CloneBlksize, FileAttr.SpaceFreed, FileAttr.ChangeAttrType, FileAttr.XattrSupport);

        var attrs = (await s.GetAttrAsync(f.FileHandle, asked).Bounded()).ValueOrThrow();

        Assert.False(attrs.Present.Contains(FileAttr.CloneBlksize)); // ext4 cannot clone
        Assert.Equal(3u, attrs.ChangeAttrType); // NFS4_CHANGE_TYPE_IS_TIME_METADATA: change is the ctime
        Assert.True(attrs.XattrSupport);
        Assert.Equal((ulong)(3 * 4096), attrs.SpaceUsed);
        Assert.Equal(attrs.SpaceUsed, attrs.SpaceFreed); // its only name: removing it frees its blocks

        // With a second name, removing one frees nothing.
        Assert.Equal(NfsStat4.Ok, (await s.LinkAsync(f.FileHandle, root, name + ".link").Bounded()).Status);
        Assert.Equal(0ul, (await s.GetAttrAsync(f.FileHandle, asked).Bounded()).ValueOrThrow().SpaceFreed);
    }

    [Fact]
    public async Task A_4_1_GETATTR_of_4_2_attributes_leaves_them_out()
    {
        await using var s = await ConnectAsync(1);
        var root = await fx.RootAsync();

        var attrs = (await s.GetAttrAsync(root, AttrBitmap.Of([FileAttr.Type, .. Minor2Attributes])).Bounded()).ValueOrThrow();

        Assert.Equal([FileAttr.Type], attrs.Present.ToArray());
    }

    [Fact]
    public async Task mode_umask_on_a_create_gives_the_mode_with_the_umask_applied()
    {
        await using var s = await ConnectAsync(2);
        var root = await fx.RootAsync();

        var file = (await s.CreateAsync(root, ServerFixture.NewName("umask"), new SetAttributes { ModeUmask = (0x1B6, 0x12) }).Bounded()).ValueOrThrow(); // 0666, 022
        var dir = (await s.MkdirAsync(root, ServerFixture.NewName("umask-dir"), new SetAttributes { ModeUmask = (0x1FF, 0x17) }).Bounded()).ValueOrThrow(); // 0777, 027

        Assert.Equal(0x1A4u, (await s.GetAttrAsync(file.FileHandle, AttrBitmap.Of(FileAttr.Mode)).Bounded()).ValueOrThrow().Mode); // 0644
        Assert.Equal(0x1E8u, (await s.GetAttrAsync(dir, AttrBitmap.Of(FileAttr.Mode)).Bounded()).ValueOrThrow().Mode); // 0750
        // mode and mode_umask together say two things: INVAL.
        var both = await s.MkdirAsync(root, ServerFixture.NewName("both"), new SetAttributes { Mode = 0x1FF, ModeUmask = (0x1FF, 0x12) }).Bounded();
        Assert.Equal(NfsStat4.Inval, both.Status);
        // Only a create's attributes may carry it (RFC 8275 §3): SETATTR is INVAL, and the mode stays.
        Assert.Equal(NfsStat4.Inval, (await s.SetAttrAsync(file.FileHandle, new SetAttributes { ModeUmask = (0x1FF, 0) }).Bounded()).Status);
        Assert.Equal(0x1A4u, (await s.GetAttrAsync(file.FileHandle, AttrBitmap.Of(FileAttr.Mode)).Bounded()).ValueOrThrow().Mode);
    }

    [Fact]
    public async Task mode_umask_is_ATTRNOTSUPP_in_a_4_1_create()
    {
        await using var s = await ConnectAsync(1);
        var root = await fx.RootAsync();
        string name = ServerFixture.NewName("umask41");

        var made = await s.CreateAsync(root, name, new SetAttributes { ModeUmask = (0x1B6, 0x12) }).Bounded();

        Assert.Equal(NfsStat4.AttrNotSupp, made.Status);
        Assert.False(File.Exists(Path.Join(fx.ExportPath, name)));
    }
}
