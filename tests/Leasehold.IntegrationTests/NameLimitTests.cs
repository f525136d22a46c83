using System.Text;
using Leasehold.Nfs4.Client;

namespace Leasehold.IntegrationTests;

/// <summary>
/// Name limits for every operation that takes a component4 (issue 6, item 4; RFC 8881 §15.1.7 and the per-operation
/// error lists): over 255 bytes is NAMETOOLONG whatever the length (never BADXDR), empty is INVAL, "." and ".." are
/// BADNAME, "/" and NUL BADCHAR; symlink text over 4095 bytes (PATH_MAX with its NUL) is NAMETOOLONG.
/// </summary>
public sealed class NameLimitTests(ServerFixture fx) : IClassFixture<ServerFixture>
{
    public enum NameOp
    {
        Lookup,
        Open,
        OpenCreate,
        CreateDirectory,
        CreateSymlink,
        Remove,
        RenameSource,
        RenameTarget,
        Link,
        SecInfo,
    }

    private Nfs4Session S => fx.Session;

    public static TheoryData<NameOp> Ops() => [.. Enum.GetValues<NameOp>()];

    public static TheoryData<NameOp, int> OpsAndTooLongLengths()
    {
        var data = new TheoryData<NameOp, int>();
        foreach (var op in Enum.GetValues<NameOp>())
        {
            foreach (int length in new[] { 256, 1025, 4097, 200_000 })
                data.Add(op, length);
        }
        return data;
    }

    /// <summary>A fresh directory holding a regular file "f" (for RENAME and LINK sources).</summary>
    private async Task<(FileHandle Dir, FileHandle File, string Path)> SceneAsync()
    {
        string name = ServerFixture.NewName("names");
        var dir = (await S.MkdirAsync(await fx.RootAsync(), name).Bounded()).ValueOrThrow();
        var f = (await S.CreateAsync(dir, "f").Bounded()).ValueOrThrow();
        Assert.True((await S.CloseAsync(f.FileHandle, f.StateId).Bounded()).IsOk);
        return (dir, f.FileHandle, Path.Join(fx.ExportPath, name));
    }

    private async Task<NfsStat4> RunAsync(NameOp op, byte[] name)
    {
        var (dir, file, _) = await SceneAsync();
        using var c = new CompoundBuilder(op.ToString());
        switch (op)
        {
            case NameOp.Lookup: c.PutFh(dir).Lookup(name); break;
            case NameOp.Open: c.PutFh(dir).Open(OpenClaim.ByName(name), ShareAccess.Read, ShareDeny.None, S.NewOwner()); break;
            case NameOp.OpenCreate: c.PutFh(dir).Open(OpenClaim.ByName(name), ShareAccess.Both, ShareDeny.None, S.NewOwner(), OpenHow.Guarded()); break;
            case NameOp.CreateDirectory: c.PutFh(dir).CreateDirectory(name); break;
            case NameOp.CreateSymlink: c.PutFh(dir).CreateSymlink(name, "target"u8); break;
            case NameOp.Remove: c.PutFh(dir).Remove(name); break;
            case NameOp.RenameSource: c.PutFh(dir).SaveFh().Rename(name, "other"u8); break;
            case NameOp.RenameTarget: c.PutFh(dir).SaveFh().Rename("f"u8, name); break;
            case NameOp.Link: c.PutFh(file).SaveFh().PutFh(dir).Link(name); break;
            case NameOp.SecInfo: c.PutFh(dir).SecInfo(name); break;
        }
        var reply = await S.CompoundAsync(c).Bounded();
        return reply.Status;
    }

    [Theory]
    [MemberData(nameof(OpsAndTooLongLengths))]
    public async Task A_name_over_255_bytes_is_NAMETOOLONG_at_any_length(NameOp op, int length)
    {
        Assert.Equal(NfsStat4.NameTooLong, await RunAsync(op, Encoding.ASCII.GetBytes(new string('n', length))));
    }

    [Theory]
    [MemberData(nameof(Ops))]
    public async Task A_name_of_255_multibyte_bytes_is_within_the_limit_and_256_is_not(NameOp op)
    {
        // 127 two-byte characters and one more byte: 255 bytes, fewer than 255 characters either way.
        byte[] longest = [.. Encoding.UTF8.GetBytes(new string('\u00e9', 127)), (byte)'e'];
        byte[] tooLong = [.. Encoding.UTF8.GetBytes(new string('\u00e9', 128))];

        NfsStat4 expected = op is NameOp.Lookup or NameOp.Open or NameOp.Remove or NameOp.RenameSource or NameOp.SecInfo
            ? NfsStat4.NoEnt // a valid name that is not there
            : NfsStat4.Ok;
        Assert.Equal(expected, await RunAsync(op, longest));
        Assert.Equal(NfsStat4.NameTooLong, await RunAsync(op, tooLong));
    }

    [Theory]
    [MemberData(nameof(Ops))]
    public async Task An_empty_name_is_INVAL(NameOp op) => Assert.Equal(NfsStat4.Inval, await RunAsync(op, []));

    [Theory]
    [MemberData(nameof(Ops))]
    public async Task Dot_and_dot_dot_are_BADNAME(NameOp op)
    {
        Assert.Equal(NfsStat4.BadName, await RunAsync(op, "."u8.ToArray()));
        Assert.Equal(NfsStat4.BadName, await RunAsync(op, ".."u8.ToArray()));
    }

    [Theory]
    [MemberData(nameof(Ops))]
    public async Task A_slash_or_a_NUL_in_a_name_is_BADCHAR(NameOp op)
    {
        Assert.Equal(NfsStat4.BadChar, await RunAsync(op, "a/b"u8.ToArray()));
        Assert.Equal(NfsStat4.BadChar, await RunAsync(op, "f\0"u8.ToArray()));
    }

    [Fact]
    public async Task Symlink_text_over_4095_bytes_is_NAMETOOLONG_and_4095_bytes_is_stored_whole()
    {
        var (dir, _, path) = await SceneAsync();

        foreach (int length in new[] { 4096, 10_000, 200_000 })
        {
            using var tooLong = new CompoundBuilder().PutFh(dir).CreateSymlink("long"u8, Encoding.ASCII.GetBytes(new string('t', length)));
            Assert.Equal(NfsStat4.NameTooLong, (await S.CompoundAsync(tooLong).Bounded()).Status);
        }
        Assert.False(Path.Exists(Path.Join(path, "long")));

        string longest = string.Join('/', Enumerable.Repeat(new string('t', 255), 16))[..4095];
        var made = (await S.SymlinkAsync(dir, "longest", longest).Bounded()).ValueOrThrow();
        Assert.Equal(longest, (await S.ReadLinkAsync(made).Bounded()).ValueOrThrow());
        Assert.Equal(longest, new FileInfo(Path.Join(path, "longest")).LinkTarget);

        using var empty = new CompoundBuilder().PutFh(dir).CreateSymlink("empty"u8, []);
        Assert.Equal(NfsStat4.Inval, (await S.CompoundAsync(empty).Bounded()).Status);
    }

    [Fact]
    public async Task Maxname_says_255()
    {
        var attrs = (await S.GetAttrAsync(await fx.RootAsync(), AttrBitmap.Of(FileAttr.MaxName)).Bounded()).ValueOrThrow();
        Assert.Equal(255u, attrs.MaxName);
    }
}
