using System.Text;
using Leasehold.Nfs4.Client;
using Leasehold.Nfs4.Client.Rpc;

namespace Leasehold.IntegrationTests;

/// <summary>
/// What a session slot keeps (RFC 8881 §2.10.6.1.3, §18.46; issue 6 item 13): with sa_cachethis the whole reply,
/// within the negotiated ca_maxresponsesize_cached, else NFS4ERR_REP_TOO_BIG_TO_CACHE; without it only the SEQUENCE
/// result, so a retry gets NFS4ERR_RETRY_UNCACHED_REP (a solo SEQUENCE is kept whole).
/// </summary>
public sealed class ReplyCacheTests(ServerFixture fx) : IClassFixture<ServerFixture>
{
    private const int ReadSize = 60 * 1024;

    private sealed class Raw(RpcClient rpc, SessionId session, ChannelAttrs fore) : IAsyncDisposable
    {
        public SessionId Session { get; } = session;

        public ChannelAttrs Fore { get; } = fore;

        public async Task<(CompoundReply Reply, byte[] Bytes)> SendAsync(CompoundBuilder compound)
        {
            var reply = await rpc.CallAsync(Nfs4Session.NfsProgram, Nfs4Session.NfsVersion, 1, RpcAuth.Root, compound,
                static (w, c) => c.WriteTo(w)).Bounded();
            return (CompoundReply.Decode(reply.Results), reply.Results.ToArray());
        }

        public ValueTask DisposeAsync() => rpc.DisposeAsync();
    }

    /// <summary>A confirmed client with a session of <paramref name="slots"/> slots asking for <paramref name="cached"/> cached bytes.</summary>
    private async Task<Raw> OpenSessionAsync(uint cached, uint slots = 4)
    {
        var rpc = await RpcClient.ConnectAsync(fx.EndPoint).Bounded();
        async Task<CompoundReply> Send(CompoundBuilder c) =>
            CompoundReply.Decode((await rpc.CallAsync(Nfs4Session.NfsProgram, Nfs4Session.NfsVersion, 1, RpcAuth.Root, c, static (w, x) => x.WriteTo(w)).Bounded()).Results);

        using var exchange = new CompoundBuilder("cache").ExchangeId(new ExchangeIdArgs(0x42,
            Encoding.UTF8.GetBytes(ServerFixture.NewName("cache-client")), ExchangeIdFlags.None, new ImplementationId("test", "cache", default)));
        var exchanged = (await Send(exchange)).ThrowIfFailed().Get<ExchangeIdResult>();
        var fore = new ChannelAttrs(0, 128 * 1024, 128 * 1024, cached, 16, slots);
        var back = new ChannelAttrs(0, 16 * 1024, 16 * 1024, 0, 8, 1);
        using var create = new CompoundBuilder("cache").CreateSession(new CreateSessionArgs(exchanged.ClientId, exchanged.SequenceId,
            CreateSessionFlags.None, fore, back, 0x4000_0000, [RpcAuth.Root]));
        var created = (await Send(create)).ThrowIfFailed().Get<CreateSessionResult>();
        return new Raw(rpc, created.SessionId, created.ForeChannel!);
    }

    private async Task<FileHandle> FileOfAsync(int size)
    {
        string name = ServerFixture.NewName("cached");
        await File.WriteAllBytesAsync(Path.Join(fx.ExportPath, name), new byte[size]);
        return (await fx.Session.LookupPathAsync(name).Bounded()).ValueOrThrow();
    }

    [Fact]
    public async Task The_cached_reply_size_granted_is_at_most_the_servers_8_KiB()
    {
        await using var asksMore = await OpenSessionAsync(cached: 64 * 1024);
        Assert.Equal(8192u, asksMore.Fore.MaxResponseSizeCached);
        await using var asksLess = await OpenSessionAsync(cached: 4096);
        Assert.Equal(4096u, asksLess.Fore.MaxResponseSizeCached);
    }

    [Fact]
    public async Task A_retry_of_a_request_sent_without_cachethis_is_RETRY_UNCACHED_REP_after_the_original_SEQUENCE()
    {
        var fh = await FileOfAsync(ReadSize);
        await using var s = await OpenSessionAsync(cached: 8192, slots: 64);
        for (uint slot = 0; slot < 64; slot++)
        {
            using var read = new CompoundBuilder("cache").Sequence(s.Session, slot, sequenceId: 1, highestSlot: 63).PutFh(fh).Read(StateId.Anonymous, 0, ReadSize);
            var (first, _) = await s.SendAsync(read);
            Assert.Equal(NfsStat4.Ok, first.Status);
            Assert.Equal(ReadSize, first.Get<ReadResult>().Data.Length); // not held against the 8 KiB: nothing asked to cache it
        }

        using var again = new CompoundBuilder("cache").Sequence(s.Session, slot: 5, sequenceId: 1, highestSlot: 63).PutFh(fh).Read(StateId.Anonymous, 0, ReadSize);
        var (retry, _) = await s.SendAsync(again);
        Assert.Equal(NfsStat4.RetryUncachedRep, retry.Status);
        Assert.Equal([(NfsOpcode.Sequence, NfsStat4.Ok), (NfsOpcode.PutFh, NfsStat4.RetryUncachedRep)], retry.Results.Select(r => (r.Op, r.Status)));
        Assert.Equal(5u, retry.Get<SequenceResult>().SlotId);

        // The slot goes on as usual afterwards.
        using var next = new CompoundBuilder("cache").Sequence(s.Session, slot: 5, sequenceId: 2, highestSlot: 63).PutFh(fh).Read(StateId.Anonymous, 0, 10);
        Assert.Equal(NfsStat4.Ok, (await s.SendAsync(next)).Reply.Status);
    }

    [Fact]
    public async Task A_solo_SEQUENCE_without_cachethis_is_replayed_whole()
    {
        await using var s = await OpenSessionAsync(cached: 8192);
        using var solo = new CompoundBuilder("cache").Sequence(s.Session, slot: 1, sequenceId: 1);
        var (_, bytes) = await s.SendAsync(solo);
        using var again = new CompoundBuilder("cache").Sequence(s.Session, slot: 1, sequenceId: 1);
        var (reply, replayed) = await s.SendAsync(again);
        Assert.Equal(NfsStat4.Ok, reply.Status);
        Assert.Equal(bytes, replayed);
    }

    [Fact]
    public async Task With_cachethis_a_reply_over_the_negotiated_size_is_REP_TOO_BIG_TO_CACHE_and_that_answer_is_replayed()
    {
        var fh = await FileOfAsync(ReadSize);
        await using var s = await OpenSessionAsync(cached: 8192);
        using var read = new CompoundBuilder("cache").Sequence(s.Session, slot: 2, sequenceId: 1, cacheThis: true).PutFh(fh).Read(StateId.Anonymous, 0, ReadSize);
        var (first, bytes) = await s.SendAsync(read);
        Assert.Equal(NfsStat4.RepTooBigToCache, first.Status);
        Assert.Equal([(NfsOpcode.Sequence, NfsStat4.Ok), (NfsOpcode.PutFh, NfsStat4.Ok), (NfsOpcode.Read, NfsStat4.RepTooBigToCache)],
            first.Results.Select(r => (r.Op, r.Status)));

        using var again = new CompoundBuilder("cache").Sequence(s.Session, slot: 2, sequenceId: 1, cacheThis: true).PutFh(fh).Read(StateId.Anonymous, 0, ReadSize);
        Assert.Equal(bytes, (await s.SendAsync(again)).Bytes);
    }

    [Fact]
    public async Task With_cachethis_a_reply_within_the_negotiated_size_is_replayed_byte_for_byte()
    {
        var fh = await FileOfAsync(4000);
        await using var s = await OpenSessionAsync(cached: 8192);
        using var read = new CompoundBuilder("cache").Sequence(s.Session, slot: 3, sequenceId: 1, cacheThis: true).PutFh(fh).Read(StateId.Anonymous, 0, 4000);
        var (first, bytes) = await s.SendAsync(read);
        Assert.Equal(NfsStat4.Ok, first.Status);

        using var again = new CompoundBuilder("cache").Sequence(s.Session, slot: 3, sequenceId: 1, cacheThis: true).PutFh(fh).Read(StateId.Anonymous, 0, 4000);
        Assert.Equal(bytes, (await s.SendAsync(again)).Bytes);
    }
}
