using Leasehold.Nfs4.Client;
using Leasehold.Rpc.Messages;
using Leasehold.Testing;

namespace Leasehold.IntegrationTests;

/// <summary>
/// Input no well-behaved client sends, over raw connections: the server must answer with the right RPC or NFS error,
/// or close just the offending connection, and keep serving everybody else.
/// </summary>
public sealed class MalformedInputTests(ServerFixture fx) : IClassFixture<ServerFixture>
{
    private const uint ProcCompound = 1;
    private const uint OpExchangeId = 42, OpSequence = 53, OpPutFh = 22;

    [Fact]
    public async Task A_record_mark_announcing_one_GiB_closes_that_connection_and_no_other()
    {
        await using var bystander = await fx.ConnectRawAsync();
        await using var attacker = await fx.ConnectRawAsync();
        Assert.Equal(AcceptStat.Success, (await bystander.CallAsync(4, 0, []).Bounded()).Accept); // both connections are up

        await attacker.SendRawAsync(RawRpc.Words(0x8000_0000u | (1u << 30))).Bounded(); // last fragment, 1 GiB, never sent
        await attacker.Closed.Bounded();

        Assert.Equal(AcceptStat.Success, (await bystander.CallAsync(4, 0, []).Bounded()).Accept);
        await using var newcomer = await fx.ConnectRawAsync();
        Assert.Equal(AcceptStat.Success, (await newcomer.CallAsync(4, 0, []).Bounded()).Accept);
        Assert.True((await fx.Session.RenewAsync().Bounded()) == NfsStat4.Ok, "the session's own connection is untouched");
    }

    [Fact]
    public async Task A_compound_whose_header_is_cut_short_is_GARBAGE_ARGS()
    {
        await using var raw = await fx.ConnectRawAsync();
        // The tag claims 100 bytes and 4 follow: COMPOUND4args itself cannot be decoded, so there is no NFS reply to give.
        var reply = await raw.CallAsync(4, ProcCompound, RawRpc.Words(100, 0x6162_6364)).Bounded();
        Assert.Equal(ReplyStat.MsgAccepted, reply.Stat);
        Assert.Equal(AcceptStat.GarbageArgs, reply.Accept);

        // And the connection still works.
        Assert.Equal(AcceptStat.Success, (await raw.CallAsync(4, 0, []).Bounded()).Accept);
    }

    [Fact]
    public async Task An_operation_whose_arguments_are_cut_short_is_NFS4ERR_BADXDR()
    {
        await using var raw = await fx.ConnectRawAsync();
        // EXCHANGE_ID: the verifier, then an owner id that claims 1000 bytes and has 4.
        var truncated = RawRpc.Compound(1, 1, RawRpc.Words(OpExchangeId, 0, 1, 1000, 0x6162_6364));
        var compound = (await raw.CallAsync(4, ProcCompound, truncated).Bounded()).Compound();
        Assert.Equal(NfsStat4.BadXdr, compound.Status);
        Assert.Equal(NfsOpcode.ExchangeId, Assert.Single(compound.Results).Op);
        Assert.Equal(NfsStat4.BadXdr, compound.Results[0].Status);

        // SEQUENCE cut off in the middle of its session id.
        var sequence = RawRpc.Compound(1, 1, RawRpc.Words(OpSequence, 1, 2));
        compound = (await raw.CallAsync(4, ProcCompound, sequence).Bounded()).Compound();
        Assert.Equal(NfsStat4.BadXdr, compound.Status);
        Assert.Equal(NfsOpcode.Sequence, Assert.Single(compound.Results).Op);
    }

    [Fact]
    public async Task A_truncated_operation_after_a_good_sequence_fails_that_operation_with_BADXDR()
    {
        await using var session = await fx.ConnectAsync();
        using var c = new CompoundBuilder("truncated").PutRootFh().Raw(OpPutFh, RawRpc.Words(64, 0x0102_0304));
        var reply = await session.CompoundAsync(c).Bounded();
        Assert.Equal(NfsStat4.BadXdr, reply.Status);
        Assert.Equal([NfsOpcode.Sequence, NfsOpcode.PutRootFh, NfsOpcode.PutFh], reply.Results.Select(r => r.Op));
        Assert.Equal(NfsStat4.Ok, await session.RenewAsync().Bounded()); // the slot moved on; the session goes on
    }

    [Theory]
    [InlineData(1u << 16, 2u)]          // time_access_set (attribute 48) with time_how4 2
    [InlineData(1u << 22, 0xFFFF_FFFFu)] // time_modify_set (attribute 54) with time_how4 0xFFFFFFFF
    public async Task A_settime4_that_is_neither_server_nor_client_time_is_BADXDR_and_changes_nothing(uint word1, uint how)
    {
        var s = fx.Session;
        var f = (await s.CreateAsync(await fx.RootAsync(), ServerFixture.NewName("settime")).Bounded()).ValueOrThrow();
        var before = (await s.GetAttrAsync(f.FileHandle, AttrBitmap.Of(FileAttr.TimeAccess, FileAttr.TimeModify)).Bounded()).ValueOrThrow();

        // SETATTR: anonymous stateid, bitmap4 {0, word1}, attr_vals of one word, the time_how4.
        using var c = new CompoundBuilder("settime").PutFh(f.FileHandle).Raw(34, RawRpc.Words(0, 0, 0, 0, 2, 0, word1, 4, how));
        Assert.Equal(NfsStat4.BadXdr, (await s.CompoundAsync(c).Bounded()).Status);

        var after = (await s.GetAttrAsync(f.FileHandle, AttrBitmap.Of(FileAttr.TimeAccess, FileAttr.TimeModify)).Bounded()).ValueOrThrow();
        Assert.Equal(before.TimeAccess, after.TimeAccess);
        Assert.Equal(before.TimeModify, after.TimeModify);
    }

    [Fact]
    public async Task An_unknown_procedure_is_PROC_UNAVAIL()
    {
        await using var raw = await fx.ConnectRawAsync();
        var reply = await raw.CallAsync(4, 7, []).Bounded();
        Assert.Equal(AcceptStat.ProcUnavail, reply.Accept);
    }

    [Fact]
    public async Task NFS_version_3_is_PROG_MISMATCH_offering_4_to_4()
    {
        await using var raw = await fx.ConnectRawAsync();
        var reply = await raw.CallAsync(3, 0, []).Bounded();
        Assert.Equal(AcceptStat.ProgMismatch, reply.Accept);
        Assert.Equal((4u, 4u), (reply.MismatchLow, reply.MismatchHigh));
    }

    [Fact]
    public async Task An_unknown_program_is_PROG_UNAVAIL()
    {
        await using var raw = await fx.ConnectRawAsync();
        var reply = await raw.CallAsync(1, 0, [], program: 100005); // MOUNT: NFSv4 has no use for it
        Assert.Equal(AcceptStat.ProgUnavail, reply.Accept);
    }

    [Fact]
    public async Task Minor_version_0_is_MINOR_VERS_MISMATCH_with_no_results()
    {
        await using var raw = await fx.ConnectRawAsync();
        var compound = (await raw.CallAsync(4, ProcCompound, RawRpc.Compound(0, 1, RawRpc.Words((uint)NfsOpcode.PutRootFh), tag: "v4.0")).Bounded()).Compound();
        Assert.Equal(NfsStat4.MinorVersMismatch, compound.Status);
        Assert.Equal("v4.0", compound.Tag);
        Assert.Empty(compound.Results); // §16.2.3: an empty resarray
    }

    [Fact]
    public async Task Operation_number_9999_is_OP_ILLEGAL()
    {
        await using var raw = await fx.ConnectRawAsync();
        var compound = (await raw.CallAsync(4, ProcCompound, RawRpc.Compound(1, 1, RawRpc.Words(9999))).Bounded()).Compound();
        Assert.Equal(NfsStat4.OpIllegal, compound.Status);
        Assert.Equal(NfsOpcode.Illegal, Assert.Single(compound.Results).Op); // §15.2: the result names OP_ILLEGAL, not 9999

        // Inside a session too.
        await using var session = await fx.ConnectAsync();
        using var c = new CompoundBuilder("illegal").PutRootFh().Raw(9999);
        var reply = await session.CompoundAsync(c).Bounded();
        Assert.Equal(NfsStat4.OpIllegal, reply.Status);
        Assert.Equal(NfsOpcode.Illegal, reply.Results[^1].Op);
    }

    [Fact]
    public async Task A_compound_claiming_a_billion_operations_is_refused_without_reading_them()
    {
        await using var raw = await fx.ConnectRawAsync();
        var reply = await raw.CallAsync(4, ProcCompound, RawRpc.Compound(1, 1_000_000_000, RawRpc.Words((uint)NfsOpcode.PutRootFh))).Bounded();
        Assert.Equal(AcceptStat.GarbageArgs, reply.Accept);
        Assert.Equal(AcceptStat.Success, (await raw.CallAsync(4, 0, []).Bounded()).Accept);
    }
}
