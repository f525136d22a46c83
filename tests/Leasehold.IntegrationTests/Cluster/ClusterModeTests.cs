using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Leasehold.Engine;
using Leasehold.Export;
using Leasehold.Nfs4.Client;
using Leasehold.Testing;
using FileHandle = Leasehold.Nfs4.Client.FileHandle;

namespace Leasehold.IntegrationTests.Cluster;

/// <summary>
/// What the NFS layer of a cluster node does differently from a single server, without etcd: two nodes ("n1", "n2")
/// and a single server, built in this process over one export with one handle key, each with its own state directory.
/// </summary>
public sealed class ClusterModeTests : IAsyncLifetime
{
    private readonly string _root = Path.Join(Path.GetTempPath(), $"leasehold-cluster-mode-{Guid.NewGuid():N}");
    private InProcessNode? _n1, _n2, _single;

    private string ExportPath => Path.Join(_root, "export");

    private InProcessNode N1 => _n1!;

    private InProcessNode N2 => _n2!;

    private InProcessNode Single => _single!;

    public Task InitializeAsync()
    {
        Directory.CreateDirectory(ExportPath);
        byte[] key = HandleKeyFile.NewKey();
        _n1 = InProcessNode.Start(ExportPath, Path.Join(_root, "state-n1"), key, "n1");
        _n2 = InProcessNode.Start(ExportPath, Path.Join(_root, "state-n2"), key, "n2");
        _single = InProcessNode.Start(ExportPath, Path.Join(_root, "state-single"), key, clusterNode: null);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        foreach (var node in new[] { _n1, _n2, _single })
        {
            if (node is not null)
                await node.DisposeAsync();
        }
        Directory.Delete(_root, recursive: true);
    }

    private static Nfs4SessionOptions NoBackChannel => new() { BackChannel = false };

    [Fact]
    public async Task A_node_names_itself_in_its_server_owner_and_scope_so_no_client_trunks_two_nodes()
    {
        await using var a = await N1.ConnectAsync(NoBackChannel);
        await using var b = await N2.ConnectAsync(NoBackChannel);
        await using var s = await Single.ConnectAsync(NoBackChannel);

        string machine = Environment.MachineName;
        Assert.Equal($"leasehold-{machine}-n1", Encoding.UTF8.GetString(a.ExchangeIdReply!.ServerOwner!.MajorId));
        Assert.Equal($"leasehold-{machine}-n1", Encoding.UTF8.GetString(a.ExchangeIdReply.ServerScope));
        Assert.Equal($"leasehold-{machine}-n2", Encoding.UTF8.GetString(b.ExchangeIdReply!.ServerOwner!.MajorId));
        Assert.Equal($"leasehold-{machine}-n2", Encoding.UTF8.GetString(b.ExchangeIdReply.ServerScope));
        Assert.Equal($"leasehold-{machine}", Encoding.UTF8.GetString(s.ExchangeIdReply!.ServerOwner!.MajorId));
        Assert.True(N1.Server.ClusterMode);
        Assert.False(Single.Server.ClusterMode);
    }

    [Fact]
    public async Task Every_node_sends_the_fsid_of_the_root_handle_not_the_device_numbers()
    {
        await using var a = await N1.ConnectAsync(NoBackChannel);
        await using var b = await N2.ConnectAsync(NoBackChannel);
        await using var s = await Single.ConnectAsync(NoBackChannel);
        FileHandle root = (await a.LookupPathAsync("").Bounded()).ValueOrThrow();
        Assert.Equal(root, (await b.LookupPathAsync("").Bounded()).ValueOrThrow()); // one key: one root handle

        var fsidA = (await a.GetAttrAsync(root, AttrBitmap.Of(FileAttr.Fsid)).Bounded()).ValueOrThrow().Fsid;
        var fsidB = (await b.GetAttrAsync(root, AttrBitmap.Of(FileAttr.Fsid)).Bounded()).ValueOrThrow().Fsid;
        var fsidSingle = (await s.GetAttrAsync(root, AttrBitmap.Of(FileAttr.Fsid)).Bounded()).ValueOrThrow().Fsid;

        byte[] hash = SHA256.HashData(root.Bytes);
        var expected = new Fsid(BinaryPrimitives.ReadUInt64BigEndian(hash), BinaryPrimitives.ReadUInt64BigEndian(hash.AsSpan(8)));
        Assert.Equal(expected, fsidA);
        Assert.Equal(expected, fsidB);
        Assert.Equal(new Fsid(Single.Tree.FileSystemId.Major, Single.Tree.FileSystemId.Minor), fsidSingle); // the device numbers
        Assert.NotEqual(expected, fsidSingle);
    }

    [Fact]
    public async Task A_getattr_of_size_on_a_node_breaks_for_a_read_first_and_answers_delay_until_the_write_grant_is_back()
    {
        await using var a = await N1.ConnectAsync(NoBackChannel);
        await using var s = await Single.ConnectAsync(NoBackChannel);
        FileHandle root = (await a.LookupPathAsync("").Bounded()).ValueOrThrow();
        var made = (await a.CreateAsync(root, ServerFixture.NewName("getattr")).Bounded()).ValueOrThrow();
        Assert.Equal(NfsStat4.Ok, (await a.WriteAsync(made.FileHandle, made.StateId, 0, ServerFixture.Bytes("hello")).Bounded()).Status);
        Assert.Equal(NfsStat4.Ok, (await a.CloseAsync(made.FileHandle, made.StateId).Bounded()).Status);
        ulong fileId = (await a.GetAttrAsync(made.FileHandle, AttrBitmap.Of(FileAttr.FileId)).Bounded()).ValueOrThrow().FileId!.Value;

        // A write grant held by an owner that is not the caller, as the engine holds it for another node's write
        // delegation (the token recall) or for another client: the same write grant on both servers.
        var remote = new Owner(0xC1A5_7E12, 1);
        var holderN1 = new RecordingHolder("n1 write grant");
        var holderSingle = new RecordingHolder("single write grant");
        var onN1 = await N1.Engine.GrantAsync(new GrantRequest(FileKey.From(fileId), remote, GrantKind.Delegation, GrantMode.Write, holderN1));
        var onSingle = await Single.Engine.GrantAsync(new GrantRequest(FileKey.From(fileId), remote, GrantKind.Delegation, GrantMode.Write, holderSingle));
        Assert.True(onN1.IsGranted);
        Assert.True(onSingle.IsGranted);

        // Attributes no writer changes: no break on the node either.
        Assert.Equal(NfsStat4.Ok, (await a.GetAttrAsync(made.FileHandle, AttrBitmap.Of(FileAttr.Mode, FileAttr.Owner)).Bounded()).Status);
        Assert.Empty(holderN1.Breaks);

        // The size: the node recalls first, the single server answers (its own clients' delegations go by CB_GETATTR).
        Assert.Equal(NfsStat4.Delay, (await a.GetAttrAsync(made.FileHandle, AttrBitmap.Of(FileAttr.Size)).Bounded()).Status);
        await holderN1.WaitForAsync(1);
        Assert.Equal(5ul, (await s.GetAttrAsync(made.FileHandle, AttrBitmap.Of(FileAttr.Size)).Bounded()).ValueOrThrow().Size);
        Assert.Empty(holderSingle.Events);

        // Still being recalled: still DELAY. Returned: the size.
        Assert.Equal(NfsStat4.Delay, (await a.GetAttrAsync(made.FileHandle, AttrBitmap.Of(FileAttr.Change)).Bounded()).Status);
        N1.Engine.Release(onN1.Grant!);
        Assert.Equal(5ul, (await a.GetAttrAsync(made.FileHandle, AttrBitmap.Of(FileAttr.Size)).Bounded()).ValueOrThrow().Size);
        Assert.Single(holderN1.Events);
        Single.Engine.Release(onSingle.Grant!);
    }

    [Fact]
    public async Task A_getattr_of_size_on_a_node_does_not_recall_the_callers_own_write_grant()
    {
        await using var a = await N1.ConnectAsync(NoBackChannel);
        FileHandle root = (await a.LookupPathAsync("").Bounded()).ValueOrThrow();
        var made = (await a.CreateAsync(root, ServerFixture.NewName("own")).Bounded()).ValueOrThrow();
        Assert.Equal(NfsStat4.Ok, (await a.CloseAsync(made.FileHandle, made.StateId).Bounded()).Status);
        ulong fileId = (await a.GetAttrAsync(made.FileHandle, AttrBitmap.Of(FileAttr.FileId)).Bounded()).ValueOrThrow().FileId!.Value;

        var holder = new RecordingHolder("own write grant");
        var own = await N1.Engine.GrantAsync(new GrantRequest(FileKey.From(fileId), new Owner(a.ClientId, 7), GrantKind.Delegation, GrantMode.Write, holder));
        Assert.True(own.IsGranted);

        Assert.Equal(0ul, (await a.GetAttrAsync(made.FileHandle, AttrBitmap.Of(FileAttr.Size, FileAttr.Change)).Bounded()).ValueOrThrow().Size);
        Assert.Empty(holder.Events);
        N1.Engine.Release(own.Grant!);
    }
}
