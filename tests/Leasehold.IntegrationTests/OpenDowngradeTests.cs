using Leasehold.Nfs4.Client;

namespace Leasehold.IntegrationTests;

/// <summary>
/// OPEN_DOWNGRADE (RFC 8881 §18.18.3): the new share_access and share_deny must be the union of those of some subset
/// of the OPENs in effect for the open-owner on the file, else NFS4ERR_INVAL. An open made once for BOTH therefore
/// cannot become READ (knfsd refuses it too); one made for READ and then for WRITE can.
/// </summary>
public sealed class OpenDowngradeTests(ServerFixture fx) : IClassFixture<ServerFixture>
{
    private Nfs4Session S => fx.Session;

    [Fact]
    public async Task An_open_made_for_BOTH_alone_cannot_go_down_to_READ_or_WRITE()
    {
        var f = (await S.CreateAsync(await fx.RootAsync(), ServerFixture.NewName("both")).Bounded()).ValueOrThrow();

        Assert.Equal(NfsStat4.Inval, (await S.OpenDowngradeAsync(f.FileHandle, f.StateId, ShareAccess.Read).Bounded()).Status);
        Assert.Equal(NfsStat4.Inval, (await S.OpenDowngradeAsync(f.FileHandle, f.StateId, ShareAccess.Write).Bounded()).Status);
        // Nothing changed: the open still writes.
        Assert.Equal(NfsStat4.Ok, (await S.WriteAsync(f.FileHandle, f.StateId, 0, ServerFixture.Bytes("x")).Bounded()).Status);
    }

    [Fact]
    public async Task Opens_for_READ_and_for_WRITE_go_down_to_either_and_then_only_to_what_is_left()
    {
        var f = await NewClosedFileAsync();
        var owner = S.NewOwner("downgrade");
        var read = (await S.OpenAsync(f, ShareAccess.Read, owner: owner).Bounded()).ValueOrThrow();
        var both = (await S.OpenAsync(f, ShareAccess.Write, owner: owner).Bounded()).ValueOrThrow();
        Assert.Equal(read.StateId.Other, both.StateId.Other); // one open stateid per open-owner and file

        var toRead = await S.OpenDowngradeAsync(f, both.StateId, ShareAccess.Read).Bounded();
        Assert.Equal(NfsStat4.Ok, toRead.Status);
        Assert.Equal(NfsStat4.OpenMode, (await S.WriteAsync(f, toRead.Value, 0, ServerFixture.Bytes("x")).Bounded()).Status);
        // The WRITE open is no longer in effect: going "down" to WRITE now is no subset of what is left.
        Assert.Equal(NfsStat4.Inval, (await S.OpenDowngradeAsync(f, toRead.Value, ShareAccess.Write).Bounded()).Status);
        Assert.True((await S.CloseAsync(f, toRead.Value).Bounded()).IsOk);
    }

    [Fact]
    public async Task Deny_modes_follow_the_same_rule()
    {
        var f = await NewClosedFileAsync();
        var owner = S.NewOwner("deny");
        (await S.OpenAsync(f, ShareAccess.Read, ShareDeny.None, owner).Bounded()).ValueOrThrow();
        var second = (await S.OpenAsync(f, ShareAccess.Both, ShareDeny.Write, owner).Bounded()).ValueOrThrow();

        // (READ, DENY_WRITE) is no union of {(READ, NONE), (BOTH, WRITE)}; (READ, NONE) is.
        Assert.Equal(NfsStat4.Inval, (await S.OpenDowngradeAsync(f, second.StateId, ShareAccess.Read, ShareDeny.Write).Bounded()).Status);
        var down = await S.OpenDowngradeAsync(f, second.StateId, ShareAccess.Read, ShareDeny.None).Bounded();
        Assert.Equal(NfsStat4.Ok, down.Status);
        // DENY_WRITE is gone: another owner may now open for write.
        var writer = (await S.OpenAsync(f, ShareAccess.Write, owner: S.NewOwner("writer")).Bounded()).ValueOrThrow();
        Assert.True((await S.CloseAsync(f, writer.StateId).Bounded()).IsOk);
        Assert.True((await S.CloseAsync(f, down.Value).Bounded()).IsOk);
    }

    [Theory]
    [InlineData(0u, 0u)] // no access
    [InlineData(1u, 4u)] // deny out of range
    public async Task Modes_out_of_range_are_INVAL(uint access, uint deny)
    {
        var f = await NewClosedFileAsync();
        var open = (await S.OpenAsync(f, ShareAccess.Read, owner: S.NewOwner("range")).Bounded()).ValueOrThrow();
        Assert.Equal(NfsStat4.Inval, (await S.OpenDowngradeAsync(f, open.StateId, (ShareAccess)access, (ShareDeny)deny).Bounded()).Status);
        Assert.True((await S.CloseAsync(f, open.StateId).Bounded()).IsOk);
    }

    private async Task<FileHandle> NewClosedFileAsync()
    {
        var f = (await S.CreateAsync(await fx.RootAsync(), ServerFixture.NewName("dg")).Bounded()).ValueOrThrow();
        Assert.True((await S.CloseAsync(f.FileHandle, f.StateId).Bounded()).IsOk);
        return f.FileHandle;
    }
}
