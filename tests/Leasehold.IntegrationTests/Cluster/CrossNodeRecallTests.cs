using Leasehold.Cluster.Tests.Etcd;
using Leasehold.Nfs4.Client;
using System.Diagnostics;
using Leasehold.Nfs4.Client.Callbacks;
using Xunit.Abstractions;

namespace Leasehold.IntegrationTests.Cluster;

/// <summary>
/// Issue 11: a delegation one node granted is recalled by a conflicting operation on another node, through the file's
/// node tokens in etcd: the other node answers NFS4ERR_DELAY while the holder's client gets CB_RECALL, and succeeds once
/// the delegation is returned.
/// </summary>
public sealed class CrossNodeRecallTests(ClusterFixture fx, ITestOutputHelper output) : IClassFixture<ClusterFixture>
{
    internal sealed record Client(Nfs4Session Session, RecordingCallbackHandler Handler) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => Session.DisposeAsync();
    }

    internal static async Task<Client> ConnectWithBackChannelAsync(ClusterNode node)
    {
        var handler = new RecordingCallbackHandler();
        var session = await node.ConnectAsync(options: new Nfs4SessionOptions { CallbackHandler = handler });
        return new Client(session, handler);
    }

    /// <summary>A new file holding "hello", made and closed on <paramref name="node"/> by a client that gets no delegation.</summary>
    internal static async Task<(FileHandle Root, string Name, FileHandle File)> NewFileAsync(ClusterNode node)
    {
        await using var maker = await node.ConnectPlainAsync();
        var root = (await maker.LookupPathAsync("").Bounded()).ValueOrThrow();
        string name = ServerFixture.NewName("recall");
        var made = (await maker.CreateAsync(root, name).Bounded()).ValueOrThrow();
        Assert.Equal(NfsStat4.Ok, (await maker.WriteAsync(made.FileHandle, made.StateId, 0, ServerFixture.Bytes("hello")).Bounded()).Status);
        Assert.Equal(NfsStat4.Ok, (await maker.CloseAsync(made.FileHandle, made.StateId).Bounded()).Status);
        return (root, name, made.FileHandle);
    }

    [EtcdFact]
    public async Task ReadDelegationOnARecalledByWriteOpenOnB()
    {
        var (nodeA, nodeB) = (fx.Nodes[0], fx.Nodes[1]);
        var (root, name, file) = await NewFileAsync(nodeA);
        await using var a = await ConnectWithBackChannelAsync(nodeA);
        await using var b = await nodeB.ConnectPlainAsync();

        var readOnA = (await a.Session.OpenAsync(root, name, ShareAccess.Read).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.Read, readOnA.Delegation.Type);

        // B's OPEN for write needs the file's write right, which A's node holds against it while A's delegation lives.
        var clock = Stopwatch.StartNew();
        var first = await b.OpenAsync(root, name, ShareAccess.Write).Bounded();
        Assert.Equal(NfsStat4.Delay, first.Status);
        var recall = await NextRecallAsync(a);
        var recalledAt = clock.Elapsed;
        Assert.Equal(readOnA.Delegation.StateId.Other, recall.StateId.Other);
        Assert.Equal(file, recall.FileHandle);

        // Not returned yet: still DELAY.
        Assert.Equal(NfsStat4.Delay, (await b.OpenAsync(root, name, ShareAccess.Write).Bounded()).Status);

        Assert.Equal(NfsStat4.Ok, await a.Session.DelegReturnAsync(file, readOnA.Delegation.StateId).Bounded());
        var returnedAt = clock.Elapsed;
        var deadline = DateTime.UtcNow + Waits.Timeout;
        Nfs4Result<OpenedFile> opened;
        int delays = 0;
        while (true)
        {
            opened = await b.OpenAsync(root, name, ShareAccess.Write).Bounded();
            if (opened.Status != NfsStat4.Delay || DateTime.UtcNow > deadline)
                break;
            delays++;
            await Task.Delay(20);
        }
        var writeOnB = opened.ValueOrThrow();
        output.WriteLine($"CB_RECALL {recalledAt.TotalMilliseconds:F1} ms after B's first OPEN; B's OPEN OK {(clock.Elapsed - returnedAt).TotalMilliseconds:F1} ms after DELEGRETURN ({delays} more DELAYs)");
        Assert.Equal(NfsStat4.Ok, (await b.WriteAsync(writeOnB.FileHandle, writeOnB.StateId, 0, ServerFixture.Bytes("HELLO")).Bounded()).Status);
        Assert.Equal(NfsStat4.Ok, (await b.CloseAsync(writeOnB.FileHandle, writeOnB.StateId).Bounded()).Status);

        // A's read open outlived its delegation: it reads what B wrote (the read right never conflicts with the write right).
        var read = (await ClusterHandleTests.RetryWhileDelayAsync(() => a.Session.ReadAsync(file, readOnA.StateId, 0, 100))).ValueOrThrow();
        Assert.Equal("HELLO", System.Text.Encoding.UTF8.GetString(read.Data.Span));
        Assert.Equal(NfsStat4.Ok, (await a.Session.CloseAsync(file, readOnA.StateId).Bounded()).Status);
        Assert.True(delays < 200, $"B's OPEN was delayed {delays} times after the delegation was returned");
    }

    [EtcdFact]
    public async Task WriteDelegationOnARecalledByGetattrOnC()
    {
        var (nodeA, nodeC) = (fx.Nodes[0], fx.Nodes[2]);
        var (root, name, file) = await NewFileAsync(nodeA);
        await using var a = await ConnectWithBackChannelAsync(nodeA);
        await using var c = await nodeC.ConnectPlainAsync();

        var writeOnA = (await a.Session.OpenAsync(root, name, ShareAccess.Both).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.Write, writeOnA.Delegation.Type);
        // Under its delegation A's client writes and the server has it; the size C must see is 11, not "hello"'s 5.
        Assert.Equal(NfsStat4.Ok, (await a.Session.WriteAsync(file, writeOnA.StateId, 0, ServerFixture.Bytes("hello there")).Bounded()).Status);

        // Attributes no writer changes are C's to answer at once; the size is not (RFC 8881 §10.4.3).
        Assert.Equal(NfsStat4.Ok, (await c.GetAttrAsync(file, AttrBitmap.Of(FileAttr.Mode, FileAttr.FileId)).Bounded()).Status);
        Assert.Empty(ReadAll(a.Handler.Recalls));
        var clock = Stopwatch.StartNew();
        Assert.Equal(NfsStat4.Delay, (await c.GetAttrAsync(file, AttrBitmap.Of(FileAttr.Size, FileAttr.Change)).Bounded()).Status);
        var recall = await NextRecallAsync(a);
        var recalledAt = clock.Elapsed;
        Assert.Equal(writeOnA.Delegation.StateId.Other, recall.StateId.Other);

        Assert.Equal(NfsStat4.Ok, await a.Session.DelegReturnAsync(file, writeOnA.Delegation.StateId).Bounded());
        var size = (await ClusterHandleTests.RetryWhileDelayAsync(() => c.GetAttrAsync(file, AttrBitmap.Of(FileAttr.Size)))).ValueOrThrow();
        Assert.Equal(11ul, size.Size);
        output.WriteLine($"CB_RECALL {recalledAt.TotalMilliseconds:F1} ms after C's GETATTR");
        Assert.Equal(NfsStat4.Ok, (await a.Session.CloseAsync(file, writeOnA.StateId).Bounded()).Status);
    }

    [EtcdFact]
    public async Task WriteDelegationOnARecalledByOpenOnC()
    {
        var (nodeA, nodeC) = (fx.Nodes[0], fx.Nodes[2]);
        var (root, name, file) = await NewFileAsync(nodeA);
        await using var a = await ConnectWithBackChannelAsync(nodeA);
        await using var c = await nodeC.ConnectPlainAsync();
        var writeOnA = (await a.Session.OpenAsync(root, name, ShareAccess.Both).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.Write, writeOnA.Delegation.Type);
        Assert.Equal(NfsStat4.Ok, (await a.Session.WriteAsync(file, writeOnA.StateId, 0, ServerFixture.Bytes("from A")).Bounded()).Status);

        // Even an OPEN for read on C needs A's write delegation gone (its holder may cache writes the server has not seen).
        Assert.Equal(NfsStat4.Delay, (await c.OpenAsync(root, name, ShareAccess.Read).Bounded()).Status);
        var recall = await NextRecallAsync(a);
        Assert.Equal(writeOnA.Delegation.StateId.Other, recall.StateId.Other);
        Assert.Equal(NfsStat4.Ok, await a.Session.DelegReturnAsync(file, writeOnA.Delegation.StateId).Bounded());

        var readOnC = (await ClusterHandleTests.RetryWhileDelayAsync(() => c.OpenAsync(root, name, ShareAccess.Read))).ValueOrThrow();
        var read = (await c.ReadAsync(file, readOnC.StateId, 0, 100).Bounded()).ValueOrThrow();
        Assert.Equal("from A", System.Text.Encoding.UTF8.GetString(read.Data.Span));
        Assert.Equal(NfsStat4.Ok, (await c.CloseAsync(file, readOnC.StateId).Bounded()).Status);
        Assert.Equal(NfsStat4.Ok, (await a.Session.CloseAsync(file, writeOnA.StateId).Bounded()).Status);
    }

    internal static async Task<CbRecallEvent> NextRecallAsync(Client client)
    {
        using var timeout = new CancellationTokenSource(Waits.Timeout);
        return await client.Handler.Recalls.ReadAsync(timeout.Token);
    }

    private static List<T> ReadAll<T>(System.Threading.Channels.ChannelReader<T> reader)
    {
        var all = new List<T>();
        while (reader.TryRead(out var item))
            all.Add(item);
        return all;
    }
}

/// <summary>
/// The changes on another node that recall a read delegation, with a cluster of their own: a REMOVE frees an inode the
/// next new file may get, and the engine keeps a recalled file (by inode) from new delegations for
/// <c>Engine:DelegationRecallWindow</c>, which would refuse the delegations other tests of a shared cluster expect.
/// </summary>
public sealed class CrossNodeChangeRecallTests(ClusterFixture fx) : IClassFixture<ClusterFixture>
{
    /// <summary>Every change on B that breaks a read delegation locally (RFC 8881 §10.4.4) recalls A's across the nodes too.</summary>
    [EtcdFact]
    public async Task ReadDelegationOnARecalledByRemoveRenameAndSetattrOnB()
    {
        var (nodeA, nodeB) = (fx.Nodes[0], fx.Nodes[1]);
        await using var b = await nodeB.ConnectPlainAsync();
        var changes = new (string What, Func<FileHandle, string, FileHandle, Task<NfsStat4>> Change)[]
        {
            ("SETATTR size", async (_, _, file) => (await b.SetAttrAsync(file, new SetAttributes { Size = 1 }).Bounded()).Status),
            ("SETATTR mode", async (_, _, file) => (await b.SetAttrAsync(file, new SetAttributes { Mode = Convert.ToUInt32("600", 8) }).Bounded()).Status),
            ("RENAME", async (root, name, _) => (await b.RenameAsync(root, name, root, name + "-renamed").Bounded()).Status),
            ("REMOVE", async (root, name, _) => (await b.RemoveAsync(root, name).Bounded()).Status),
        };
        foreach (var (what, change) in changes)
        {
            var (root, name, file) = await CrossNodeRecallTests.NewFileAsync(nodeA);
            await using var a = await CrossNodeRecallTests.ConnectWithBackChannelAsync(nodeA);
            var readOnA = (await a.Session.OpenAsync(root, name, ShareAccess.Read).Bounded()).ValueOrThrow();
            Assert.Equal(DelegationType.Read, readOnA.Delegation.Type);

            Assert.True(NfsStat4.Delay == await change(root, name, file), $"{what} on B did not wait for A's delegation");
            var recall = await CrossNodeRecallTests.NextRecallAsync(a);
            Assert.Equal(readOnA.Delegation.StateId.Other, recall.StateId.Other);
            Assert.Equal(NfsStat4.Ok, await a.Session.DelegReturnAsync(file, readOnA.Delegation.StateId).Bounded());
            Assert.Equal(NfsStat4.Ok, await ClusterHandleTests.RetryWhileDelayAsync(() => change(root, name, file)));
            Assert.Equal(NfsStat4.Ok, (await a.Session.CloseAsync(file, readOnA.StateId).Bounded()).Status);
        }
    }
}
