using Leasehold.Nfs4.Client;

namespace Leasehold.IntegrationTests;

/// <summary>
/// The same rule as EXCLUSIVE4_1's (issue 6, item 2) for the other create modes: times a client sends with a GUARDED4
/// or UNCHECKED4 create of a new file are applied, not overwritten by the create, and the attrset names them
/// (RFC 8881 §18.16.4).
/// </summary>
public sealed class CreateAttributeTimesTests(ServerFixture fx) : IClassFixture<ServerFixture>
{
    private Nfs4Session S => fx.Session;

    [Theory]
    [InlineData(CreateMode.Guarded)]
    [InlineData(CreateMode.Unchecked)]
    public async Task Times_sent_with_a_create_are_applied_and_reported_in_the_attrset(CreateMode mode)
    {
        var root = await fx.RootAsync();
        var attrs = new SetAttributes { Mode = 0x1A0, TimeAccess = new NfsTimeSet(new NfsTime(2000, 5)), TimeModify = new NfsTimeSet(new NfsTime(1000, 7)) };
        var how = mode == CreateMode.Guarded ? OpenHow.Guarded(attrs) : OpenHow.Unchecked(attrs);
        using var c = new CompoundBuilder("create").PutFh(root)
            .Open(OpenClaim.ByName(ServerFixture.NewName("times")), ShareAccess.Both, ShareDeny.None, S.NewOwner(), how)
            .GetFh().GetAttr(FileAttr.Mode, FileAttr.TimeAccess, FileAttr.TimeModify);
        var reply = await S.CompoundAsync(c).Bounded();

        Assert.Equal(NfsStat4.Ok, reply.Status);
        var set = reply.Get<OpenResult>().AttrSet!;
        Assert.True(set.Contains(FileAttr.Mode) && set.Contains(FileAttr.TimeAccessSet) && set.Contains(FileAttr.TimeModifySet));
        var got = reply.Get<GetAttrResult>().Attributes!;
        Assert.Equal((0x1A0u, new NfsTime(2000, 5), new NfsTime(1000, 7)), (got.Mode!.Value, got.TimeAccess!.Value, got.TimeModify!.Value));
        Assert.True((await S.CloseAsync(reply.Get<GetFhResult>().FileHandle!, reply.Get<OpenResult>().StateId).Bounded()).IsOk);
    }
}
