using Leasehold.Nfs4.Client;

namespace Leasehold.IntegrationTests;

/// <summary>
/// Names that are not UTF-8, made on disk by a local process (issue 6, item 5). Names are bytes end to end: READDIR
/// lists the stored bytes, and LOOKUP, OPEN, RENAME and REMOVE take them back, so no entry is unreachable and no two
/// entries are listed under one name. fs_charset_cap says so (RFC 8881 §5.8.2.1, attribute 76).
/// </summary>
public sealed class NonUtf8NameTests(ServerFixture fx) : IClassFixture<ServerFixture>, IAsyncLifetime
{
    private const uint FsCharsetContainsNonUtf8 = 0x1;
    private const uint FsCharsetAllowsOnlyUtf8 = 0x2;

    private Nfs4Session S => fx.Session;

    // The directories this test made: emptied through the server afterwards, since System.IO cannot name (so cannot
    // delete) entries whose names are not UTF-8, and the fixture deletes the export with System.IO.
    private readonly List<FileHandle> _made = [];

    private async Task<(FileHandle Handle, string Path)> NewDirectoryAsync(string prefix)
    {
        string name = ServerFixture.NewName(prefix);
        var dir = (await S.MkdirAsync(await fx.RootAsync(), name).Bounded()).ValueOrThrow();
        _made.Add(dir);
        return (dir, Path.Join(fx.ExportPath, name));
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var dir in _made)
            await EmptyAsync(dir);
    }

    private async Task EmptyAsync(FileHandle dir)
    {
        var entries = await S.ReadDirAsync(dir, AttrBitmap.Of(FileAttr.Type, FileAttr.FileHandle)).Bounded();
        foreach (var entry in entries.Value ?? [])
        {
            if (entry.Attributes.Type == NfsFileType.Directory && entry.Attributes.FileHandle is { } sub)
                await EmptyAsync(sub);
            using var remove = new CompoundBuilder("cleanup").PutFh(dir).Remove(entry.RawName);
            await S.CompoundAsync(remove).Bounded();
        }
    }

    private async Task<CompoundReply> RunAsync(CompoundBuilder compound)
    {
        using (compound)
            return await S.CompoundAsync(compound).Bounded();
    }

    [Fact]
    public async Task A_name_of_the_single_byte_0xFF_is_listed_as_that_byte_and_every_operation_takes_it_back()
    {
        var (dir, path) = await NewDirectoryAsync("latin1");
        byte[] name = [0xFF];
        Disk.CreateFileNamed(path, name);

        var listed = (await S.ReadDirAsync(dir, AttrBitmap.Of(FileAttr.Type, FileAttr.FileId)).Bounded()).ValueOrThrow();
        var entry = Assert.Single(listed);
        Assert.Equal(name, entry.RawName); // not EF BF BD (U+FFFD), which names nothing on disk

        var found = await RunAsync(new CompoundBuilder().PutFh(dir).Lookup(entry.RawName).GetFh().GetAttr(FileAttr.FileId));
        Assert.Equal(NfsStat4.Ok, found.Status);
        Assert.Equal(entry.Attributes.FileId, found.Get<GetAttrResult>().Attributes!.FileId);

        var opened = await RunAsync(new CompoundBuilder().PutFh(dir)
            .Open(OpenClaim.ByName(entry.RawName), ShareAccess.Read, ShareDeny.None, S.NewOwner()).GetFh());
        Assert.Equal(NfsStat4.Ok, opened.Status);
        Assert.True((await S.CloseAsync(opened.Get<GetFhResult>().FileHandle!, opened.Get<OpenResult>().StateId).Bounded()).IsOk);

        byte[] renamed = [0xFE, (byte)'x'];
        Assert.Equal(NfsStat4.Ok, (await RunAsync(new CompoundBuilder().PutFh(dir).SaveFh().Rename(entry.RawName, renamed))).Status);
        Assert.False(Disk.ExistsNamed(path, name));
        Assert.True(Disk.ExistsNamed(path, renamed));

        Assert.Equal(NfsStat4.Ok, (await RunAsync(new CompoundBuilder().PutFh(dir).Remove(renamed))).Status);
        Assert.Empty((await S.ReadDirAsync(dir).Bounded()).ValueOrThrow());
        Assert.Empty(Directory.EnumerateFileSystemEntries(path)); // the client could empty the directory
    }

    [Fact]
    public async Task Names_that_a_lossy_decoding_would_merge_are_listed_as_different_names_of_different_files()
    {
        var (dir, path) = await NewDirectoryAsync("alike");
        byte[][] names = [[0xFF], [0xFE], "\uFFFD"u8.ToArray(), [0xC3, 0x28]]; // the first two and the last decode as U+FFFD too
        foreach (byte[] name in names)
            Disk.CreateFileNamed(path, name);

        var listed = (await S.ReadDirAsync(dir, AttrBitmap.Of(FileAttr.FileId)).Bounded()).ValueOrThrow();

        Assert.Equal(names.Select(Convert.ToHexString).Order(), listed.Select(e => Convert.ToHexString(e.RawName)).Order());
        Assert.Equal(names.Length, listed.Select(e => e.Attributes.FileId).Distinct().Count());
        foreach (var entry in listed)
        {
            var found = await RunAsync(new CompoundBuilder().PutFh(dir).Lookup(entry.RawName).GetAttr(FileAttr.FileId));
            Assert.Equal(entry.Attributes.FileId, found.Get<GetAttrResult>().Attributes!.FileId); // each name finds its own file
        }
    }

    [Fact]
    public async Task A_directory_with_a_name_that_is_not_UTF8_can_be_entered_listed_and_removed()
    {
        var (dir, path) = await NewDirectoryAsync("subdir");
        byte[] name = [(byte)'d', 0xE9, 0x80]; // "dé" in Latin-1, then a lone continuation byte
        Disk.MakeDirectoryNamed(path, name);

        var inner = await RunAsync(new CompoundBuilder().PutFh(dir).Lookup(name).CreateDirectory([0xFF]).GetFh());
        Assert.Equal(NfsStat4.Ok, inner.Status);
        var sub = (await RunAsync(new CompoundBuilder().PutFh(dir).Lookup(name).GetFh())).Get<GetFhResult>().FileHandle!;
        Assert.Equal([0xFF], Assert.Single((await S.ReadDirAsync(sub).Bounded()).ValueOrThrow()).RawName);

        Assert.Equal(NfsStat4.NotEmpty, (await RunAsync(new CompoundBuilder().PutFh(dir).Remove(name))).Status);
        Assert.Equal(NfsStat4.Ok, (await RunAsync(new CompoundBuilder().PutFh(sub).Remove([0xFF]))).Status);
        Assert.Equal(NfsStat4.Ok, (await RunAsync(new CompoundBuilder().PutFh(dir).Remove(name))).Status);
        Assert.False(Disk.ExistsNamed(path, name));
    }

    [Fact]
    public async Task A_client_creates_links_and_symlinks_names_that_are_not_UTF8_and_they_land_on_disk_as_sent()
    {
        var (dir, path) = await NewDirectoryAsync("made");
        byte[] file = [(byte)'f', 0xE9];
        byte[] hardLink = [(byte)'h', 0xFF];
        byte[] symlink = [(byte)'s', 0xFE];
        byte[] target = [0xFF, (byte)'/', (byte)'.', (byte)'.', (byte)'/', 0xE9];

        var created = await RunAsync(new CompoundBuilder().PutFh(dir)
            .Open(OpenClaim.ByName(file), ShareAccess.Both, ShareDeny.None, S.NewOwner(), OpenHow.Guarded()).GetFh());
        Assert.Equal(NfsStat4.Ok, created.Status);
        var fh = created.Get<GetFhResult>().FileHandle!;
        Assert.True((await S.CloseAsync(fh, created.Get<OpenResult>().StateId).Bounded()).IsOk);
        Assert.Equal(NfsStat4.Ok, (await RunAsync(new CompoundBuilder().PutFh(fh).SaveFh().PutFh(dir).Link(hardLink))).Status);
        var link = await RunAsync(new CompoundBuilder().PutFh(dir).CreateSymlink(symlink, target).ReadLink());
        Assert.Equal(NfsStat4.Ok, link.Status);

        Assert.True(Disk.ExistsNamed(path, file));
        Assert.True(Disk.ExistsNamed(path, hardLink));
        Assert.True(Disk.ExistsNamed(path, symlink));
        Assert.Equal(target, link.Get<ReadLinkResult>().RawTarget); // the link text is bytes too
        Assert.Equal(2u, (await S.GetAttrAsync(fh, AttrBitmap.Of(FileAttr.NumLinks)).Bounded()).ValueOrThrow().NumLinks);
    }

    [Fact]
    public async Task Fs_charset_cap_says_names_may_hold_bytes_that_are_not_UTF8()
    {
        var attrs = (await S.GetAttrAsync(await fx.RootAsync(), AttrBitmap.Of(FileAttr.SupportedAttrs, FileAttr.FsCharsetCap)).Bounded()).ValueOrThrow();

        Assert.True(attrs.SupportedAttrs!.Contains(FileAttr.FsCharsetCap));
        Assert.Equal(FsCharsetContainsNonUtf8, attrs.FsCharsetCap);
        Assert.Equal(0u, attrs.FsCharsetCap & FsCharsetAllowsOnlyUtf8);
    }
}
