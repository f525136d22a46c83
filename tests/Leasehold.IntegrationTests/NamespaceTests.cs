using Leasehold.Nfs4.Client;

namespace Leasehold.IntegrationTests;

/// <summary>RENAME, REMOVE, LINK, symlinks, CREATE of directories and READDIR, each checked on disk as well as over the wire.</summary>
public sealed class NamespaceTests(ServerFixture fx) : IClassFixture<ServerFixture>
{
    private Nfs4Session S => fx.Session;

    private async Task<(FileHandle Handle, string Path)> NewDirectoryAsync(string prefix)
    {
        string name = ServerFixture.NewName(prefix);
        var dir = (await S.MkdirAsync(await fx.RootAsync(), name).Bounded()).ValueOrThrow();
        return (dir, Path.Join(fx.ExportPath, name));
    }

    private async Task<FileHandle> WriteFileAsync(FileHandle dir, string name, string text)
    {
        var f = (await S.CreateAsync(dir, name).Bounded()).ValueOrThrow();
        Assert.True((await S.WriteAsync(f.FileHandle, f.StateId, 0, ServerFixture.Bytes(text)).Bounded()).IsOk);
        Assert.True((await S.CloseAsync(f.FileHandle, f.StateId).Bounded()).IsOk);
        return f.FileHandle;
    }

    [Fact]
    public async Task Rename_within_a_directory_moves_the_name_and_keeps_the_file()
    {
        var (dir, path) = await NewDirectoryAsync("rename-in");
        var fh = await WriteFileAsync(dir, "old", "contents");

        var renamed = await S.RenameAsync(dir, "old", dir, "new").Bounded();
        Assert.True(renamed.IsOk, renamed.ToString());
        Assert.Equal(NfsStat4.NoEnt, (await S.LookupAsync(dir, "old").Bounded()).Status);
        Assert.Equal(fh, (await S.LookupAsync(dir, "new").Bounded()).ValueOrThrow()); // same file, same handle
        Assert.False(File.Exists(Path.Join(path, "old")));
        Assert.Equal("contents", await File.ReadAllTextAsync(Path.Join(path, "new")));
    }

    [Fact]
    public async Task Rename_across_directories_reports_both_directories_change()
    {
        var (from, fromPath) = await NewDirectoryAsync("rename-from");
        var (to, toPath) = await NewDirectoryAsync("rename-to");
        await WriteFileAsync(from, "moving", "travels");

        var renamed = (await S.RenameAsync(from, "moving", to, "moved").Bounded()).ValueOrThrow();
        Assert.NotEqual(renamed.Source.Before, renamed.Source.After);
        Assert.NotEqual(renamed.Target.Before, renamed.Target.After);
        Assert.False(File.Exists(Path.Join(fromPath, "moving")));
        Assert.Equal("travels", await File.ReadAllTextAsync(Path.Join(toPath, "moved")));
    }

    [Fact]
    public async Task Rename_over_an_existing_file_replaces_it()
    {
        var (dir, path) = await NewDirectoryAsync("rename-over");
        await WriteFileAsync(dir, "winner", "new text");
        await WriteFileAsync(dir, "loser", "old text");

        Assert.True((await S.RenameAsync(dir, "winner", dir, "loser").Bounded()).IsOk);
        Assert.Equal("new text", await File.ReadAllTextAsync(Path.Join(path, "loser")));
        Assert.Equal(["loser"], Directory.GetFileSystemEntries(path).Select(Path.GetFileName));
    }

    [Fact]
    public async Task Remove_deletes_a_file_and_an_empty_directory_but_not_a_full_one()
    {
        var (dir, path) = await NewDirectoryAsync("remove");
        await WriteFileAsync(dir, "file", "x");
        var empty = (await S.MkdirAsync(dir, "empty").Bounded()).ValueOrThrow();
        var full = (await S.MkdirAsync(dir, "full").Bounded()).ValueOrThrow();
        await WriteFileAsync(full, "inside", "y");

        Assert.True((await S.RemoveAsync(dir, "file").Bounded()).IsOk);
        Assert.False(File.Exists(Path.Join(path, "file")));
        Assert.Equal(NfsStat4.NoEnt, (await S.LookupAsync(dir, "file").Bounded()).Status);

        Assert.True((await S.RemoveAsync(dir, "empty").Bounded()).IsOk);
        Assert.False(Directory.Exists(Path.Join(path, "empty")));
        Assert.NotNull(empty);

        var notEmpty = await S.RemoveAsync(dir, "full").Bounded();
        Assert.Equal(NfsStat4.NotEmpty, notEmpty.Status);
        Assert.True(File.Exists(Path.Join(path, "full", "inside")));
        Assert.NotNull(full);

        Assert.Equal(NfsStat4.NoEnt, (await S.RemoveAsync(dir, "never-was").Bounded()).Status);
    }

    [Fact]
    public async Task Link_gives_the_file_a_second_name_and_two_links()
    {
        var (dir, path) = await NewDirectoryAsync("link");
        var fh = await WriteFileAsync(dir, "first", "shared");

        var linked = await S.LinkAsync(fh, dir, "second").Bounded();
        Assert.True(linked.IsOk, linked.ToString());
        var attrs = (await S.GetAttrAsync(fh, AttrBitmap.Of(FileAttr.NumLinks, FileAttr.FileId)).Bounded()).ValueOrThrow();
        Assert.Equal(2u, attrs.NumLinks);
        var second = (await S.LookupAsync(dir, "second").Bounded()).ValueOrThrow();
        Assert.Equal(attrs.FileId, (await S.GetAttrAsync(second, AttrBitmap.Of(FileAttr.FileId)).Bounded()).ValueOrThrow().FileId);
        Assert.Equal(2u, Disk.Stat(Path.Join(path, "first")).Links);
        Assert.Equal("shared", await File.ReadAllTextAsync(Path.Join(path, "second")));

        Assert.Equal(NfsStat4.Exist, (await S.LinkAsync(fh, dir, "second").Bounded()).Status);
    }

    [Fact]
    public async Task Symlink_stores_its_text_as_given_and_readlink_returns_it()
    {
        var (dir, path) = await NewDirectoryAsync("symlink");
        const string target = "../somewhere/else that/need not exist";

        var link = (await S.SymlinkAsync(dir, "link", target).Bounded()).ValueOrThrow();
        Assert.Equal(target, (await S.ReadLinkAsync(link).Bounded()).ValueOrThrow());
        Assert.Equal(NfsFileType.Symlink, (await S.GetAttrAsync(link, AttrBitmap.Of(FileAttr.Type)).Bounded()).ValueOrThrow().Type);
        Assert.Equal(target, new FileInfo(Path.Join(path, "link")).LinkTarget);

        // READLINK of something that is not a symlink: ISDIR for a directory, INVAL for a file (what pynfs and Linux nfsd
        // answer; RFC 8881 §18.24.4 would also allow WRONG_TYPE).
        Assert.Equal(NfsStat4.IsDir, (await S.ReadLinkAsync(dir).Bounded()).Status);
        var file = await WriteFileAsync(dir, "plain", "not a link");
        Assert.Equal(NfsStat4.Inval, (await S.ReadLinkAsync(file).Bounded()).Status);
    }

    [Fact]
    public async Task Mkdir_makes_a_directory_and_an_existing_name_is_EXIST()
    {
        var (dir, path) = await NewDirectoryAsync("mkdir");
        var sub = (await S.MkdirAsync(dir, "sub", new SetAttributes { Mode = Convert.ToUInt32("750", 8) }).Bounded()).ValueOrThrow();
        var attrs = (await S.GetAttrAsync(sub, AttrBitmap.Of(FileAttr.Type, FileAttr.Mode)).Bounded()).ValueOrThrow();
        Assert.Equal(NfsFileType.Directory, attrs.Type);
        Assert.Equal(Convert.ToUInt32("750", 8), attrs.Mode);
        Assert.True(Directory.Exists(Path.Join(path, "sub")));
        Assert.Equal(Convert.ToUInt32("750", 8), Disk.Stat(Path.Join(path, "sub")).Mode & 0xFFF);
        Assert.Equal(NfsStat4.Exist, (await S.MkdirAsync(dir, "sub").Bounded()).Status);
    }

    [Fact]
    public async Task Readdir_in_small_pieces_lists_every_entry_once_with_stable_cookies()
    {
        var (dir, path) = await NewDirectoryAsync("readdir");
        var expected = Enumerable.Range(0, 40).Select(i => $"entry-{i:D3}-{new string('n', i % 7)}").ToHashSet();
        foreach (string name in expected)
            await File.WriteAllTextAsync(Path.Join(path, name), name); // made on disk: READDIR must see what is there

        var first = await ReadAllInPiecesAsync(dir, cookie: 0);
        Assert.True(first.Rounds > 3, $"maxcount {SmallMaxCount} should need several READDIRs, took {first.Rounds}");
        Assert.Equal(expected.Order(), first.Entries.Select(e => e.Name).Order()); // every entry, none twice, no "." or ".."
        Assert.Equal(first.Entries.Count, first.Entries.Select(e => e.Cookie).Distinct().Count());

        // Resuming from any cookie handed out gives the same rest of the listing: cookies are stable.
        foreach (int at in new[] { 0, 7, 20, first.Entries.Count - 2 })
        {
            var resumed = await ReadAllInPiecesAsync(dir, first.Entries[at].Cookie, first.Verifier);
            Assert.Equal(first.Entries.Skip(at + 1).Select(e => (e.Cookie, e.Name)), resumed.Entries.Select(e => (e.Cookie, e.Name)));
        }
    }

    /// <summary>Small enough for a handful of entries per reply, large enough for one.</summary>
    private const uint SmallMaxCount = 400;

    private async Task<(List<DirectoryEntry> Entries, int Rounds, ulong Verifier)> ReadAllInPiecesAsync(FileHandle dir, ulong cookie, ulong verifier = 0)
    {
        var entries = new List<DirectoryEntry>();
        for (int round = 1; round <= 200; round++)
        {
            using var c = new CompoundBuilder("readdir").PutFh(dir)
                .ReadDir(cookie, verifier, SmallMaxCount, SmallMaxCount, AttrBitmap.Of(FileAttr.Type, FileAttr.FileId));
            var reply = (await S.CompoundAsync(c).Bounded()).ThrowIfFailed().Get<ReadDirResult>();
            entries.AddRange(reply.Entries);
            verifier = reply.CookieVerifier;
            if (reply.Eof)
                return (entries, round, verifier);
            Assert.NotEmpty(reply.Entries); // not at eof, so at least one entry must fit
            cookie = reply.Entries[^1].Cookie;
        }
        throw new InvalidOperationException("READDIR never reached eof.");
    }
}
