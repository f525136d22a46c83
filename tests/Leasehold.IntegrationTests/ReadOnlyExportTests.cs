using Leasehold.Nfs4.Client;

namespace Leasehold.IntegrationTests;

/// <summary>The server with Export:ReadOnly, over an export that already has a directory and a file in it.</summary>
public sealed class ReadOnlyServerFixture : ServerFixture
{
    public const string ExistingFile = "existing.txt";
    public const string ExistingDirectory = "existing-dir";

    protected override void Configure(IDictionary<string, string?> settings)
    {
        settings["Export:ReadOnly"] = "true";
        Directory.CreateDirectory(Path.Join(ExportPath, ExistingDirectory));
        File.WriteAllText(Path.Join(ExportPath, ExistingFile), "read me");
    }
}

/// <summary>Every change to a read-only export is NFS4ERR_ROFS; reading works and the disk is untouched.</summary>
public sealed class ReadOnlyExportTests(ReadOnlyServerFixture fx) : IClassFixture<ReadOnlyServerFixture>
{
    private Nfs4Session S => fx.Session;

    [Fact]
    public async Task Reads_work_on_a_read_only_export()
    {
        var root = await fx.RootAsync();
        var f = (await S.OpenAsync(root, ReadOnlyServerFixture.ExistingFile, ShareAccess.Read).Bounded()).ValueOrThrow();
        Assert.Equal("read me", System.Text.Encoding.UTF8.GetString((await S.ReadAsync(f.FileHandle, f.StateId, 0, 100).Bounded()).ValueOrThrow().Data.Span));
        Assert.True((await S.CloseAsync(f.FileHandle, f.StateId).Bounded()).IsOk);
        Assert.True((await S.ReadDirAsync(root).Bounded()).IsOk);
    }

    [Fact]
    public async Task Every_change_is_ROFS()
    {
        var root = await fx.RootAsync();
        var file = (await S.LookupAsync(root, ReadOnlyServerFixture.ExistingFile).Bounded()).ValueOrThrow();
        var dir = (await S.LookupAsync(root, ReadOnlyServerFixture.ExistingDirectory).Bounded()).ValueOrThrow();
        string[] before = Directory.GetFileSystemEntries(fx.ExportPath);

        var attempts = new Dictionary<string, NfsStat4>
        {
            ["OPEN(create)"] = (await S.CreateAsync(root, "new-file").Bounded()).Status,
            ["WRITE"] = (await S.WriteAsync(file, StateId.Anonymous, 0, ServerFixture.Bytes("overwritten")).Bounded()).Status,
            ["SETATTR(size)"] = (await S.SetAttrAsync(file, new SetAttributes { Size = 0 }).Bounded()).Status,
            ["SETATTR(mode)"] = (await S.SetAttrAsync(file, new SetAttributes { Mode = Convert.ToUInt32("777", 8) }).Bounded()).Status,
            ["CREATE(dir)"] = (await S.MkdirAsync(root, "new-dir").Bounded()).Status,
            ["CREATE(symlink)"] = (await S.SymlinkAsync(root, "new-link", "target").Bounded()).Status,
            ["REMOVE(file)"] = (await S.RemoveAsync(root, ReadOnlyServerFixture.ExistingFile).Bounded()).Status,
            ["REMOVE(dir)"] = (await S.RemoveAsync(root, ReadOnlyServerFixture.ExistingDirectory).Bounded()).Status,
            ["RENAME"] = (await S.RenameAsync(root, ReadOnlyServerFixture.ExistingFile, dir, "moved").Bounded()).Status,
            ["LINK"] = (await S.LinkAsync(file, dir, "linked").Bounded()).Status,
        };

        Assert.All(attempts, a => Assert.True(a.Value == NfsStat4.Rofs, $"{a.Key} gave {a.Value}, not ROFS"));
        Assert.Equal(before.Order(), Directory.GetFileSystemEntries(fx.ExportPath).Order());
        Assert.Empty(Directory.GetFileSystemEntries(Path.Join(fx.ExportPath, ReadOnlyServerFixture.ExistingDirectory)));
        Assert.Equal("read me", await File.ReadAllTextAsync(Path.Join(fx.ExportPath, ReadOnlyServerFixture.ExistingFile)));
    }

    [Fact]
    public async Task Open_for_write_on_a_read_only_export_is_ROFS()
    {
        var root = await fx.RootAsync();
        Assert.Equal(NfsStat4.Rofs, (await S.OpenAsync(root, ReadOnlyServerFixture.ExistingFile, ShareAccess.Write).Bounded()).Status);
        Assert.Equal(NfsStat4.Rofs, (await S.OpenAsync(root, ReadOnlyServerFixture.ExistingFile, ShareAccess.Both).Bounded()).Status);
    }

    [Fact]
    public async Task Access_on_a_read_only_export_grants_no_modify_extend_or_delete()
    {
        var root = await fx.RootAsync();
        var access = (await S.AccessAsync(root, AccessBits.All).Bounded()).ValueOrThrow();
        Assert.Equal(AccessBits.None, access.Access & (AccessBits.Modify | AccessBits.Extend | AccessBits.Delete));
        Assert.True(access.Access.HasFlag(AccessBits.Read) && access.Access.HasFlag(AccessBits.Lookup));
    }
}
