using Leasehold.Nfs4.Client;
using Leasehold.Nfs4.Client.Rpc;

namespace Leasehold.IntegrationTests;

/// <summary>
/// OPEN with EXCLUSIVE4_1 and EXCLUSIVE4 (issue 6, item 2; RFC 8881 §18.16.3, §18.16.4). The server keeps the verifier
/// in time_access and time_modify, as knfsd does, so the reply's attrset must name them (a Linux client then sets the
/// times itself), suppattr_exclcreat must not offer them, and every attribute it does offer is applied when sent.
/// </summary>
public sealed class ExclusiveCreateTests(ServerFixture fx) : IClassFixture<ServerFixture>
{
    private const ulong Verifier = 0x0102030405060708;

    private Nfs4Session S => fx.Session;

    private static readonly AttrBitmap Looked = AttrBitmap.Of(FileAttr.Size, FileAttr.Mode, FileAttr.Owner, FileAttr.OwnerGroup,
        FileAttr.TimeAccess, FileAttr.TimeModify);

    private async Task<(FileHandle Dir, string Path)> NewDirectoryAsync()
    {
        string name = ServerFixture.NewName("excl");
        var dir = (await S.MkdirAsync(await fx.RootAsync(), name).Bounded()).ValueOrThrow();
        return (dir, Path.Join(fx.ExportPath, name));
    }

    /// <summary>OPEN (create) + GETFH + GETATTR; the reply, whatever its status.</summary>
    private async Task<CompoundReply> OpenAsync(FileHandle dir, string name, OpenHow how, StateOwner? owner = null)
    {
        using var c = new CompoundBuilder("excl").PutFh(dir)
            .Open(OpenClaim.ByName(name), ShareAccess.Both, ShareDeny.None, owner ?? S.NewOwner(), how).GetFh().GetAttr(Looked);
        return await S.CompoundAsync(c).Bounded();
    }

    [Fact]
    public async Task Exclusive41_with_a_mode_reports_the_mode_and_the_times_holding_the_verifier()
    {
        var (dir, path) = await NewDirectoryAsync();

        var reply = await OpenAsync(dir, "f", OpenHow.Exclusive41(Verifier, new SetAttributes { Mode = 0x1A0 })); // 0640

        Assert.Equal(NfsStat4.Ok, reply.Status);
        var attrSet = reply.Get<OpenResult>().AttrSet!;
        Assert.Equal(AttrBitmap.Of(FileAttr.Mode, FileAttr.TimeAccess, FileAttr.TimeModify), attrSet);
        var attrs = reply.Get<GetAttrResult>().Attributes!;
        Assert.Equal(0x1A0u, attrs.Mode);
        Assert.Equal(0x1A0u, Disk.Stat(Path.Join(path, "f")).Mode & 0xFFF);

        // What a Linux client does on seeing the time bits in attrset: set them. Nothing of the verifier is left.
        var fh = reply.Get<GetFhResult>().FileHandle!;
        var now = new SetAttributes { TimeAccess = NfsTimeSet.ServerTime, TimeModify = NfsTimeSet.ServerTime };
        Assert.True((await S.SetAttrAsync(fh, now, reply.Get<OpenResult>().StateId).Bounded()).IsOk);
        var after = (await S.GetAttrAsync(fh, Looked).Bounded()).ValueOrThrow();
        Assert.NotEqual(0x01020304L, after.TimeAccess!.Value.Seconds);
        Assert.NotEqual(0x05060708L, after.TimeModify!.Value.Seconds);
    }

    [Fact]
    public async Task Suppattr_exclcreat_offers_only_what_an_exclusive_create_applies()
    {
        var attrs = (await S.GetAttrAsync(await fx.RootAsync(), AttrBitmap.Of(FileAttr.SuppattrExclcreat)).Bounded()).ValueOrThrow();

        Assert.Equal(AttrBitmap.Of(FileAttr.Size, FileAttr.Mode, FileAttr.Owner, FileAttr.OwnerGroup), attrs.SuppattrExclcreat);
    }

    [Fact]
    public async Task Every_attribute_offered_for_exclusive_create_is_applied_and_the_retry_still_finds_the_file()
    {
        var (dir, path) = await NewDirectoryAsync();
        var sent = new SetAttributes { Size = 5, Mode = 0x180, Owner = "1234", OwnerGroup = "4321" }; // 0600
        var owner = S.NewOwner();

        var first = await OpenAsync(dir, "all", OpenHow.Exclusive41(Verifier, sent), owner);
        Assert.Equal(NfsStat4.Ok, first.Status);
        Assert.Equal(AttrBitmap.Of(FileAttr.Size, FileAttr.Mode, FileAttr.Owner, FileAttr.OwnerGroup, FileAttr.TimeAccess, FileAttr.TimeModify),
            first.Get<OpenResult>().AttrSet);
        var disk = Disk.Stat(Path.Join(path, "all"));
        Assert.Equal((1234u, 4321u, 0x180u, 5UL), (disk.Uid, disk.Gid, disk.Mode & 0xFFF, disk.Size));
        var attrs = first.Get<GetAttrResult>().Attributes!;
        Assert.Equal("1234", attrs.Owner);
        Assert.Equal(5UL, attrs.Size);

        // The truncation to 5 bytes did not disturb the verifier: a retransmission is the same file and the same answer.
        var retry = await OpenAsync(dir, "all", OpenHow.Exclusive41(Verifier, sent), owner);
        Assert.Equal(NfsStat4.Ok, retry.Status);
        Assert.Equal(first.Get<GetFhResult>().FileHandle, retry.Get<GetFhResult>().FileHandle);
        Assert.Equal(first.Get<OpenResult>().AttrSet, retry.Get<OpenResult>().AttrSet);
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public async Task Exclusive41_sending_a_time_it_cannot_keep_is_INVAL_and_creates_nothing(bool access, bool modify)
    {
        var (dir, path) = await NewDirectoryAsync();
        var time = new NfsTimeSet(new NfsTime(1000, 0));
        var sent = new SetAttributes { Mode = 0x1A4, TimeAccess = access ? time : null, TimeModify = modify ? time : null };

        var reply = await OpenAsync(dir, "timed", OpenHow.Exclusive41(Verifier, sent));

        Assert.Equal(NfsStat4.Inval, reply.Status); // refused, never created with 84281096 in place of 1000
        Assert.False(File.Exists(Path.Join(path, "timed")));
    }

    [Fact]
    public async Task Exclusive41_retried_with_the_same_verifier_is_the_same_file_and_another_verifier_is_EXIST()
    {
        var (dir, _) = await NewDirectoryAsync();
        var how = OpenHow.Exclusive41(Verifier, new SetAttributes { Mode = 0x1A0 });

        var first = await OpenAsync(dir, "again", how);
        var retry = await OpenAsync(dir, "again", how);
        var other = await OpenAsync(dir, "again", OpenHow.Exclusive41(Verifier + 1, new SetAttributes { Mode = 0x1A0 }));

        Assert.Equal(NfsStat4.Ok, retry.Status);
        Assert.Equal(first.Get<GetFhResult>().FileHandle, retry.Get<GetFhResult>().FileHandle);
        Assert.Equal(NfsStat4.Exist, other.Status);
    }

    [Fact]
    public async Task Exclusive4_of_NFSv4_0_reports_the_verifier_times_and_is_exactly_once()
    {
        var (dir, path) = await NewDirectoryAsync();

        var first = await OpenAsync(dir, "v40", OpenHow.Exclusive(Verifier));
        Assert.Equal(NfsStat4.Ok, first.Status);
        Assert.Equal(AttrBitmap.Of(FileAttr.TimeAccess, FileAttr.TimeModify), first.Get<OpenResult>().AttrSet);
        Assert.True(File.Exists(Path.Join(path, "v40")));

        var retry = await OpenAsync(dir, "v40", OpenHow.Exclusive(Verifier));
        Assert.Equal(NfsStat4.Ok, retry.Status);
        Assert.Equal(first.Get<GetFhResult>().FileHandle, retry.Get<GetFhResult>().FileHandle);
        Assert.Equal(NfsStat4.Exist, (await OpenAsync(dir, "v40", OpenHow.Exclusive(~Verifier))).Status);
    }

    [Fact]
    public async Task An_offered_attribute_the_caller_may_not_set_is_refused_and_the_create_undone()
    {
        string name = ServerFixture.NewName("shared");
        var dir = (await S.MkdirAsync(await fx.RootAsync(), name, new SetAttributes { Mode = 0x1FF }).Bounded()).ValueOrThrow(); // 0777
        await using var user = await fx.ConnectAsync(RpcAuth.Sys(1000, 1000));
        var giveAway = OpenHow.Exclusive41(Verifier, new SetAttributes { Owner = "0" }); // chown(2): only root gives a file away

        using var c = new CompoundBuilder("excl").PutFh(dir).Open(OpenClaim.ByName("f"), ShareAccess.Both, ShareDeny.None, user.NewOwner(), giveAway);
        var reply = await user.CompoundAsync(c).Bounded();

        Assert.Equal(NfsStat4.Perm, reply.Status);
        Assert.False(File.Exists(Path.Join(fx.ExportPath, name, "f"))); // a retry cannot find a file without its owner
    }

    [Fact]
    public async Task An_exclusive_create_never_matches_a_file_someone_else_made()
    {
        var (dir, path) = await NewDirectoryAsync();
        await File.WriteAllTextAsync(Path.Join(path, "theirs"), "x");

        var reply = await OpenAsync(dir, "theirs", OpenHow.Exclusive41(Verifier));

        Assert.Equal(NfsStat4.Exist, reply.Status);
        Assert.Equal("x", await File.ReadAllTextAsync(Path.Join(path, "theirs")));
    }
}
