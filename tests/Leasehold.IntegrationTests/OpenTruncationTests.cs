using Leasehold.Nfs4.Client;

namespace Leasehold.IntegrationTests;

/// <summary>
/// An OPEN that creates with UNCHECKED4 and a size truncates an existing file: that is a write (issue 6, item 1, the same
/// kind as SETATTR(size) under a special stateid). It needs an open with write access, as knfsd's nfsd4_truncate
/// requires (NFS4ERR_INVAL otherwise), and it never cuts a file the OPEN is then refused on.
/// </summary>
public sealed class OpenTruncationTests(ServerFixture fx) : IClassFixture<ServerFixture>
{
    private Nfs4Session S => fx.Session;

    private async Task<(FileHandle Root, string Name, string Path)> FileAsync()
    {
        string name = ServerFixture.NewName("trunc");
        string path = Path.Join(fx.ExportPath, name);
        await File.WriteAllTextAsync(path, "original");
        return (await fx.RootAsync(), name, path);
    }

    [Theory]
    [InlineData(0UL)]
    [InlineData(100UL)] // growing the file is a write as well
    public async Task An_open_for_reading_only_that_asks_for_a_size_is_INVAL_and_changes_nothing(ulong size)
    {
        var (root, name, path) = await FileAsync();

        var opened = await S.OpenAsync(root, name, ShareAccess.Read, OpenHow.Unchecked(new SetAttributes { Size = size })).Bounded();

        Assert.Equal(NfsStat4.Inval, opened.Status);
        Assert.Equal("original", await File.ReadAllTextAsync(path));
    }

    [Fact]
    public async Task An_open_with_write_access_truncates_and_the_attrset_names_only_the_size()
    {
        var (root, name, path) = await FileAsync();

        using var c = new CompoundBuilder("open").PutFh(root)
            .Open(OpenClaim.ByName(name), ShareAccess.Write, ShareDeny.None, S.NewOwner(),
                OpenHow.Unchecked(new SetAttributes { Size = 0, Mode = 0x1C0 })).GetFh();
        var reply = await S.CompoundAsync(c).Bounded();

        Assert.Equal(NfsStat4.Ok, reply.Status);
        Assert.Equal("", await File.ReadAllTextAsync(path));
        var open = reply.Get<OpenResult>();
        Assert.True(open.AttrSet!.Contains(FileAttr.Size));
        Assert.False(open.AttrSet.Contains(FileAttr.Mode)); // an existing file keeps its mode under UNCHECKED4
        Assert.True((await S.CloseAsync(reply.Get<GetFhResult>().FileHandle!, open.StateId).Bounded()).IsOk);
    }
}
