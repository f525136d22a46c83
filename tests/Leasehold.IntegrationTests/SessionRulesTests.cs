using System.Text;
using Leasehold.Nfs4.Client;
using Leasehold.Nfs4.Client.Rpc;

namespace Leasehold.IntegrationTests;

/// <summary>
/// The session rules RFC 8881 §2.10.6 and §18.46 lay down, checked on the wire (pynfs checks them too, but pynfs does
/// not run in CI): exactly-once replies from the slot cache, misordered sequence ids, where SEQUENCE may stand, and
/// the session's operation limit.
/// </summary>
public sealed class SessionRulesTests(ServerFixture fx) : IClassFixture<ServerFixture>
{
    private const uint MaxOperations = 16;

    private sealed class Raw(RpcClient rpc, SessionId session) : IAsyncDisposable
    {
        public SessionId Session { get; } = session;

        public async Task<(CompoundReply Reply, byte[] Bytes)> SendAsync(CompoundBuilder compound)
        {
            var reply = await rpc.CallAsync(Nfs4Session.NfsProgram, Nfs4Session.NfsVersion, 1, RpcAuth.Root, compound,
                static (w, c) => c.WriteTo(w)).Bounded();
            return (CompoundReply.Decode(reply.Results), reply.Results.ToArray());
        }

        public ValueTask DisposeAsync() => rpc.DisposeAsync();
    }

    /// <summary>A confirmed client with one session (slot 0 has seen sequence id 1, the RECLAIM_COMPLETE).</summary>
    private async Task<Raw> OpenSessionAsync()
    {
        var rpc = await RpcClient.ConnectAsync(fx.EndPoint).Bounded();
        async Task<CompoundReply> Send(CompoundBuilder c) =>
            CompoundReply.Decode((await rpc.CallAsync(Nfs4Session.NfsProgram, Nfs4Session.NfsVersion, 1, RpcAuth.Root, c, static (w, x) => x.WriteTo(w)).Bounded()).Results);

        using var exchange = new CompoundBuilder("rules").ExchangeId(new ExchangeIdArgs(0x42,
            Encoding.UTF8.GetBytes(ServerFixture.NewName("rules-client")), ExchangeIdFlags.None, new ImplementationId("test", "rules", default)));
        var exchanged = (await Send(exchange)).ThrowIfFailed().Get<ExchangeIdResult>();
        var fore = new ChannelAttrs(0, 64 * 1024, 64 * 1024, 8192, MaxOperations, 4);
        var back = new ChannelAttrs(0, 16 * 1024, 16 * 1024, 0, 8, 1);
        using var create = new CompoundBuilder("rules").CreateSession(new CreateSessionArgs(exchanged.ClientId, exchanged.SequenceId,
            CreateSessionFlags.None, fore, back, 0x4000_0000, [RpcAuth.Root]));
        var session = (await Send(create)).ThrowIfFailed().Get<CreateSessionResult>().SessionId;
        using var reclaim = new CompoundBuilder("rules").Sequence(session, slot: 0, sequenceId: 1).ReclaimComplete();
        (await Send(reclaim)).ThrowIfFailed();
        return new Raw(rpc, session);
    }

    [Fact]
    public async Task Retransmission_of_a_slots_last_request_gets_the_identical_reply_from_the_cache()
    {
        await using var s = await OpenSessionAsync();
        using var first = new CompoundBuilder("rules").Sequence(s.Session, slot: 0, sequenceId: 2, cacheThis: true).PutRootFh().GetFh();
        var (reply, bytes) = await s.SendAsync(first);
        Assert.Equal(NfsStat4.Ok, reply.Status);

        using var again = new CompoundBuilder("rules").Sequence(s.Session, slot: 0, sequenceId: 2, cacheThis: true).PutRootFh().GetFh();
        var (_, replayed) = await s.SendAsync(again);

        Assert.Equal(bytes, replayed);
    }

    [Fact]
    public async Task Sequence_id_that_skips_ahead_is_misordered_and_the_slot_keeps_its_place()
    {
        await using var s = await OpenSessionAsync();
        using var skipped = new CompoundBuilder("rules").Sequence(s.Session, slot: 0, sequenceId: 5).PutRootFh();
        Assert.Equal(NfsStat4.SeqMisordered, (await s.SendAsync(skipped)).Reply.Status);

        using var next = new CompoundBuilder("rules").Sequence(s.Session, slot: 0, sequenceId: 2).PutRootFh();
        Assert.Equal(NfsStat4.Ok, (await s.SendAsync(next)).Reply.Status);
    }

    [Fact]
    public async Task Slot_beyond_the_session_table_is_bad_slot()
    {
        await using var s = await OpenSessionAsync();
        using var compound = new CompoundBuilder("rules").Sequence(s.Session, slot: 99, sequenceId: 1).PutRootFh();
        Assert.Equal(NfsStat4.BadSlot, (await s.SendAsync(compound)).Reply.Status);
    }

    [Fact]
    public async Task Sequence_anywhere_but_first_is_sequence_pos()
    {
        await using var s = await OpenSessionAsync();
        using var compound = new CompoundBuilder("rules").Sequence(s.Session, slot: 0, sequenceId: 2).PutRootFh()
            .Sequence(s.Session, slot: 1, sequenceId: 1);
        var (reply, _) = await s.SendAsync(compound);
        Assert.Equal(NfsStat4.SequencePos, reply.Status);
        Assert.Equal(3, reply.Results.Count);
    }

    [Fact]
    public async Task Operation_outside_a_session_is_refused_and_exchange_id_must_stand_alone()
    {
        await using var s = await OpenSessionAsync();
        using var noSession = new CompoundBuilder("rules").PutRootFh();
        Assert.Equal(NfsStat4.OpNotInSession, (await s.SendAsync(noSession)).Reply.Status);

        using var notAlone = new CompoundBuilder("rules").ExchangeId(new ExchangeIdArgs(0x43,
            Encoding.UTF8.GetBytes(ServerFixture.NewName("rules-alone")), ExchangeIdFlags.None, new ImplementationId("test", "rules", default))).PutRootFh();
        Assert.Equal(NfsStat4.NotOnlyOp, (await s.SendAsync(notAlone)).Reply.Status);
    }

    [Fact]
    public async Task Compound_longer_than_the_sessions_operation_limit_is_too_many_ops()
    {
        await using var s = await OpenSessionAsync();
        using var compound = new CompoundBuilder("rules").Sequence(s.Session, slot: 0, sequenceId: 2);
        for (int i = 0; i < MaxOperations + 4; i++)
            compound.PutRootFh();
        Assert.Equal(NfsStat4.TooManyOps, (await s.SendAsync(compound)).Reply.Status);
    }
}
