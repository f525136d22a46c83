using Leasehold.Nfs4.Client;

namespace Leasehold.IntegrationTests.V42;

/// <summary>
/// Minor versions 1 and 2 in the one dispatcher (RFC 7862 §1.2, RFC 8881 §15.1.3.3): a 4.2 client sets up its session
/// as a 4.1 one does; 0 and 3 are NFS4ERR_MINOR_VERS_MISMATCH; the 4.2 operations are OP_ILLEGAL in a 4.1 COMPOUND;
/// the 4.2 operations this server does not implement are NFS4ERR_NOTSUPP, and the reply stays well formed.
/// </summary>
public sealed class MinorVersionTests(ServerFixture fx) : IClassFixture<ServerFixture>
{
    private Task<Nfs4Session> ConnectAsync(uint minorVersion) =>
        fx.ConnectAsync(options: new Nfs4SessionOptions { MinorVersion = minorVersion, BackChannel = false });

    [Fact]
    public async Task A_4_2_client_exchanges_its_id_creates_a_session_and_runs_SEQUENCE()
    {
        // EXCHANGE_ID and CREATE_SESSION as 4.2 COMPOUNDs (ConnectAsync throws on any failure), then 4.2 COMPOUNDs.
        await using var s = await ConnectAsync(2);
        Assert.NotNull(s.ExchangeIdReply);
        Assert.NotEqual(0ul, s.ClientId);

        using var c = new CompoundBuilder("4.2").PutRootFh().GetFh().GetAttr(AttrBitmap.Of(FileAttr.Type));
        var reply = await s.CompoundAsync(c).Bounded();

        Assert.Equal(NfsStat4.Ok, reply.Status);
        Assert.Equal([NfsOpcode.Sequence, NfsOpcode.PutRootFh, NfsOpcode.GetFh, NfsOpcode.GetAttr], reply.Results.Select(r => r.Op).ToArray());
        Assert.Equal(NfsFileType.Directory, reply.Get<GetAttrResult>().Attributes!.Type);
        Assert.Equal(2u, c.MinorVersion);

        // Its session serves 4.1 COMPOUNDs too: the minor version is per COMPOUND.
        using var old = new CompoundBuilder("4.1") { MinorVersion = 1 }.PutRootFh().GetFh();
        var sent = await s.CompoundAsync(old).Bounded();
        Assert.Equal(NfsStat4.Ok, sent.Status);
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(3u)]
    [InlineData(uint.MaxValue)]
    public async Task Minor_versions_other_than_1_and_2_are_MINOR_VERS_MISMATCH_with_no_results(uint minorVersion)
    {
        await using var s = await ConnectAsync(1);
        using var c = new CompoundBuilder("other") { MinorVersion = minorVersion }.PutRootFh().GetFh();

        var reply = await s.SendAsync(c).Bounded();

        Assert.Equal(NfsStat4.MinorVersMismatch, reply.Status);
        Assert.Empty(reply.Results);
        Assert.Equal("other", reply.Tag);
    }

    [Fact]
    public async Task A_4_2_EXCHANGE_ID_for_minor_version_3_fails_before_any_client_exists()
    {
        var connect = () => ConnectAsync(3);
        var failure = await Assert.ThrowsAsync<Nfs4StatusException>(connect);
        Assert.Equal(NfsStat4.MinorVersMismatch, failure.Status);
    }

    public static TheoryData<NfsOpcode> Minor2Operations => new(Enum.GetValues<NfsOpcode>().Where(op => op is >= NfsOpcode.Allocate and <= NfsOpcode.RemoveXattr));

    [Theory]
    [MemberData(nameof(Minor2Operations))]
    public async Task Each_4_2_operation_is_OP_ILLEGAL_in_a_4_1_COMPOUND(NfsOpcode op)
    {
        await using var s = await ConnectAsync(1);
        using var c = new CompoundBuilder("4.1").PutRootFh().Raw((uint)op, new byte[64]).GetFh();

        var reply = await s.CompoundAsync(c).Bounded();

        Assert.Equal(NfsStat4.OpIllegal, reply.Status);
        Assert.Equal([NfsOpcode.Sequence, NfsOpcode.PutRootFh, NfsOpcode.Illegal], reply.Results.Select(r => r.Op).ToArray());
    }

    [Theory]
    [InlineData(NfsOpcode.CopyNotify)]
    [InlineData(NfsOpcode.LayoutError)]
    [InlineData(NfsOpcode.LayoutStats)]
    [InlineData(NfsOpcode.WriteSame)]
    public async Task Unimplemented_4_2_operations_are_NOTSUPP_and_the_reply_stays_well_formed(NfsOpcode op)
    {
        await using var s = await ConnectAsync(2);
        // Arguments the server never decodes, then an operation that must not run (evaluation stops at the failure).
        using var c = new CompoundBuilder("4.2").PutRootFh().Raw((uint)op, new byte[40]).GetFh();

        var reply = await s.CompoundAsync(c).Bounded();

        Assert.Equal(NfsStat4.NotSupp, reply.Status);
        Assert.Equal([NfsOpcode.Sequence, NfsOpcode.PutRootFh, op], reply.Results.Select(r => r.Op).ToArray());
        Assert.Equal(NfsStat4.NotSupp, reply.Results[^1].Status);

        // The session goes on: the slot advanced, the next COMPOUND works.
        using var next = new CompoundBuilder("after").PutRootFh().GetFh();
        Assert.Equal(NfsStat4.Ok, (await s.CompoundAsync(next).Bounded()).Status);
    }

    [Fact]
    public async Task An_operation_number_past_the_4_2_ones_is_OP_ILLEGAL_in_a_4_2_COMPOUND()
    {
        await using var s = await ConnectAsync(2);
        using var c = new CompoundBuilder("4.2").PutRootFh().Raw((uint)NfsOpcode.RemoveXattr + 1).GetFh();

        var reply = await s.CompoundAsync(c).Bounded();

        Assert.Equal(NfsStat4.OpIllegal, reply.Status);
        Assert.Equal(NfsOpcode.Illegal, reply.Results[^1].Op);
    }
}
