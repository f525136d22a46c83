using Leasehold.Nfs4.Client;

namespace Leasehold.IntegrationTests;

/// <summary>
/// Names that are not UTF-8 (issue 6, item 5) in the places the first tests do not reach: READDIR paged through its
/// cookies in small replies, long names up to the 255-byte limit, RENAME between directories, SECINFO and LINK. Every
/// listed name is listed once, LOOKUP of it finds the file listed, and the client can remove every one.
/// </summary>
public sealed class NonUtf8NamePagingTests(ServerFixture fx) : IClassFixture<ServerFixture>
{
    private Nfs4Session S => fx.Session;

    private async Task<CompoundReply> RunAsync(CompoundBuilder compound)
    {
        using (compound)
            return await S.CompoundAsync(compound).Bounded();
    }

    /// <summary>A name of <paramref name="length"/> bytes drawn from 0x80-0xFF (never valid UTF-8 as a whole), unique by <paramref name="index"/>.</summary>
    private static byte[] HighName(Random random, int index, int length)
    {
        var name = new byte[length];
        for (int i = 0; i < length; i++)
            name[i] = (byte)random.Next(0x80, 0x100);
        name[0] = (byte)(0x80 + (index % 128));
        name[^1] = (byte)(0x80 + (index / 128));
        name[length / 2] = 0xFF;
        return name;
    }

    [Fact]
    public async Task Paged_READDIR_lists_every_name_once_and_each_listed_name_looks_up_and_removes_its_own_file()
    {
        string dirName = ServerFixture.NewName("paged");
        string path = Path.Join(fx.ExportPath, dirName);
        var dir = (await S.MkdirAsync(await fx.RootAsync(), dirName).Bounded()).ValueOrThrow();
        var random = new Random(6);
        var names = new List<byte[]>();
        for (int i = 0; i < 150; i++)
        {
            byte[] name = HighName(random, i, i % 3 == 0 ? 255 : 1 + random.Next(1, 40));
            Disk.CreateFileNamed(path, name);
            names.Add(name);
        }

        // Replies of 2 KiB hold a few entries each, so the listing goes through many cookies.
        var listed = new List<(byte[] Name, ulong FileId)>();
        ulong cookie = 0, verifier = 0;
        for (int round = 0; round < 1000; round++)
        {
            var reply = await RunAsync(new CompoundBuilder().PutFh(dir).ReadDir(cookie, verifier, 512, 2048, AttrBitmap.Of(FileAttr.FileId)));
            Assert.Equal(NfsStat4.Ok, reply.Status);
            var page = reply.Get<ReadDirResult>();
            listed.AddRange(page.Entries.Select(e => (e.RawName, e.Attributes.FileId!.Value)));
            if (page.Eof)
                break;
            Assert.NotEmpty(page.Entries);
            (cookie, verifier) = (page.Entries[^1].Cookie, page.CookieVerifier);
        }

        Assert.Equal(names.Select(Convert.ToHexString).Order(), listed.Select(e => Convert.ToHexString(e.Name)).Order());
        Assert.Equal(names.Count, listed.Select(e => e.FileId).Distinct().Count());
        foreach (var (name, fileId) in listed)
        {
            var found = await RunAsync(new CompoundBuilder().PutFh(dir).Lookup(name).GetAttr(FileAttr.FileId));
            Assert.Equal(NfsStat4.Ok, found.Status);
            Assert.Equal(fileId, found.Get<GetAttrResult>().Attributes!.FileId);
            Assert.Equal(NfsStat4.Ok, (await RunAsync(new CompoundBuilder().PutFh(dir).Remove(name))).Status);
        }
        Assert.Empty(Directory.EnumerateFileSystemEntries(path));
    }

    [Fact]
    public async Task Rename_between_directories_SECINFO_and_LINK_take_names_that_are_not_UTF8()
    {
        var root = await fx.RootAsync();
        string fromName = ServerFixture.NewName("from"), toName = ServerFixture.NewName("to");
        var from = (await S.MkdirAsync(root, fromName).Bounded()).ValueOrThrow();
        var to = (await S.MkdirAsync(root, toName).Bounded()).ValueOrThrow();
        byte[] original = [0xC0, 0xAE]; // an overlong "." : a name of its own, not the directory itself
        byte[] moved = [.. Enumerable.Repeat((byte)0xFF, 255)];
        byte[] linked = [0xE9, 0x80, 0x2E];
        Disk.CreateFileNamed(Path.Join(fx.ExportPath, fromName), original);

        Assert.Equal(NfsStat4.Ok, (await RunAsync(new CompoundBuilder().PutFh(from).SecInfo(original))).Status);
        var renamed = await RunAsync(new CompoundBuilder().PutFh(from).SaveFh().PutFh(to).Rename(original, moved));
        Assert.Equal(NfsStat4.Ok, renamed.Status);
        Assert.False(Disk.ExistsNamed(Path.Join(fx.ExportPath, fromName), original));
        Assert.True(Disk.ExistsNamed(Path.Join(fx.ExportPath, toName), moved));

        var file = await RunAsync(new CompoundBuilder().PutFh(to).Lookup(moved).GetFh());
        Assert.Equal(NfsStat4.Ok, file.Status);
        var fh = file.Get<GetFhResult>().FileHandle!;
        Assert.Equal(NfsStat4.Ok, (await RunAsync(new CompoundBuilder().PutFh(fh).SaveFh().PutFh(from).Link(linked))).Status);
        Assert.True(Disk.ExistsNamed(Path.Join(fx.ExportPath, fromName), linked));

        // One byte more than the limit is NAMETOOLONG wherever the name goes.
        byte[] tooLong = [.. moved, 0xFF];
        Assert.Equal(NfsStat4.NameTooLong, (await RunAsync(new CompoundBuilder().PutFh(to).SaveFh().Rename(moved, tooLong))).Status);
        Assert.Equal(NfsStat4.NameTooLong, (await RunAsync(new CompoundBuilder().PutFh(fh).SaveFh().PutFh(from).Link(tooLong))).Status);

        Assert.Equal(NfsStat4.Ok, (await RunAsync(new CompoundBuilder().PutFh(to).Remove(moved))).Status);
        Assert.Equal(NfsStat4.Ok, (await RunAsync(new CompoundBuilder().PutFh(from).Remove(linked))).Status);
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Join(fx.ExportPath, fromName)));
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Join(fx.ExportPath, toName)));
    }
}
