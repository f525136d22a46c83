using Leasehold.Cluster.Tests.Etcd;
using Leasehold.Nfs4.Client;
using Leasehold.Testing;

namespace Leasehold.IntegrationTests.Cluster;

/// <summary>
/// Issue 11: the nodes of a cluster serve one tree as one server would, to a client that moves between them: a handle
/// any node gave out works on every node (one handle key, shared through etcd), and a file has one fileid and one
/// fsid on every node.
/// </summary>
public sealed class ClusterHandleTests(ClusterFixture fx) : IClassFixture<ClusterFixture>
{
    /// <summary>Retries <paramref name="op"/> while it answers DELAY (the node may first have to get the file's token from another), at most <see cref="Waits.Timeout"/>.</summary>
    /// <summary>Sends <paramref name="op"/> again while it answers NFS4ERR_DELAY, within <see cref="Waits.Timeout"/>; its last status.</summary>
    internal static async Task<NfsStat4> RetryWhileDelayAsync(Func<Task<NfsStat4>> op) =>
        (await RetryWhileDelayAsync(async () => new Nfs4Result<bool>(await op(), default))).Status;

    internal static async Task<Nfs4Result<T>> RetryWhileDelayAsync<T>(Func<Task<Nfs4Result<T>>> op)
    {
        var deadline = DateTime.UtcNow + Waits.Timeout;
        while (true)
        {
            var result = await op().Bounded();
            if (result.Status != NfsStat4.Delay || DateTime.UtcNow > deadline)
                return result;
            await Task.Delay(20);
        }
    }

    [EtcdFact]
    public async Task HandleFromOneNodeWorksOnEveryNode()
    {
        var first = fx.Nodes[0];
        await using var a = await first.ConnectPlainAsync();
        var root = (await a.LookupPathAsync("").Bounded()).ValueOrThrow();
        string name = ServerFixture.NewName("handle");
        var made = (await a.CreateAsync(root, name).Bounded()).ValueOrThrow();
        Assert.Equal(NfsStat4.Ok, (await a.WriteAsync(made.FileHandle, made.StateId, 0, ServerFixture.Bytes("written on n1")).Bounded()).Status);
        Assert.Equal(NfsStat4.Ok, (await a.CloseAsync(made.FileHandle, made.StateId).Bounded()).Status);

        foreach (var node in fx.Nodes.Skip(1))
        {
            await using var other = await node.ConnectPlainAsync();
            Assert.Equal(root, (await other.LookupPathAsync("").Bounded()).ValueOrThrow());
            Assert.Equal(made.FileHandle, (await other.LookupAsync(root, name).Bounded()).ValueOrThrow());
            // n1's handle as it is, never looked up on this node: its attributes and its data.
            var size = (await RetryWhileDelayAsync(() => other.GetAttrAsync(made.FileHandle, AttrBitmap.Of(FileAttr.Type, FileAttr.Size)))).ValueOrThrow();
            Assert.Equal(NfsFileType.Regular, size.Type);
            Assert.Equal(13ul, size.Size);
            var read = (await RetryWhileDelayAsync(() => other.ReadAsync(made.FileHandle, StateId.Anonymous, 0, 100))).ValueOrThrow();
            Assert.Equal("written on n1", System.Text.Encoding.UTF8.GetString(read.Data.Span));
        }
    }

    [EtcdFact]
    public async Task FileIdIsTheSameOnEveryNode()
    {
        await using var a = await fx.Nodes[0].ConnectPlainAsync();
        var root = (await a.LookupPathAsync("").Bounded()).ValueOrThrow();
        string name = ServerFixture.NewName("fileid");
        var made = (await a.CreateAsync(root, name).Bounded()).ValueOrThrow();
        Assert.Equal(NfsStat4.Ok, (await a.CloseAsync(made.FileHandle, made.StateId).Bounded()).Status);
        ulong inode = Inode.Of(Path.Join(fx.ExportPath, name));

        var seen = new List<(ulong FileId, Fsid Fsid, Fsid RootFsid)>();
        foreach (var node in fx.Nodes)
        {
            await using var session = await node.ConnectPlainAsync();
            var attrs = (await session.GetAttrAsync(made.FileHandle, AttrBitmap.Of(FileAttr.Fsid, FileAttr.FileId)).Bounded()).ValueOrThrow();
            var rootAttrs = (await session.GetAttrAsync(root, AttrBitmap.Of(FileAttr.Fsid)).Bounded()).ValueOrThrow();
            seen.Add((attrs.FileId!.Value, attrs.Fsid!.Value, rootAttrs.Fsid!.Value));
        }

        Assert.All(seen, s => Assert.Equal(inode, s.FileId)); // the engine's file key is the inode: one token per file cluster-wide
        Assert.All(seen, s => Assert.Equal(seen[0].Fsid, s.Fsid));
        Assert.All(seen, s => Assert.Equal(s.RootFsid, s.Fsid)); // one filesystem, as the client sees it
    }

    [EtcdFact]
    public async Task DifferentLocalHandleKeyRefusesToJoin()
    {
        // A server that served on its own with a key of its own: joining would turn its clients' handles stale unseen.
        var stranger = new ClusterNode(fx, "n9");
        try
        {
            File.WriteAllBytes(Path.Join(stranger.StatePath, "handle-key"), System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));

            var refused = await Assert.ThrowsAsync<InvalidOperationException>(stranger.StartAsync);

            Assert.Contains("exited with code 1 before serving", refused.Message, StringComparison.Ordinal);
            var errors = stranger.Log.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.StartsWith("stderr: ", StringComparison.Ordinal));
            Assert.Equal([$"stderr: leasehold: the handle key in {stranger.StatePath}/handle-key differs from the cluster's: move it aside to join (the handles this server gave out go stale)"],
                errors);
        }
        finally
        {
            await stranger.DisposeAsync();
        }
    }

    [EtcdFact]
    public async Task ANodeWithoutAKeyInstallsTheClustersAndServesTheSameHandles()
    {
        var newcomer = new ClusterNode(fx, "n8");
        try
        {
            Assert.False(File.Exists(Path.Join(newcomer.StatePath, "handle-key")));
            await newcomer.StartAsync();
            await using (var first = await fx.Nodes[0].ConnectPlainAsync())
            await using (var joined = await newcomer.ConnectPlainAsync())
                Assert.Equal((await first.LookupPathAsync("").Bounded()).ValueOrThrow(), (await joined.LookupPathAsync("").Bounded()).ValueOrThrow());
            Assert.Equal(File.ReadAllBytes(Path.Join(fx.Nodes[0].StatePath, "handle-key")), File.ReadAllBytes(Path.Join(newcomer.StatePath, "handle-key")));
            Assert.Equal(0, await newcomer.StopAsync()); // leaves the cluster cleanly
        }
        finally
        {
            await newcomer.DisposeAsync();
        }
    }
}
