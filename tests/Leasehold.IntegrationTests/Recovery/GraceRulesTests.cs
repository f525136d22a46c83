using Leasehold.Nfs4.Client;

namespace Leasehold.IntegrationTests.Recovery;

/// <summary>
/// What the grace period holds back (RFC 8881 §8.4.2.1; knfsd's choices): new opens (by name, by handle, with create),
/// LOCKT, REMOVE, RENAME, and READ, WRITE and size changes under the anonymous stateid answer NFS4ERR_GRACE, for every
/// client; lookups, attributes, directory listings, mkdir and COMMIT go on. A server that found no records has no
/// grace period at all.
/// </summary>
public sealed class GraceRulesTests(RecoveryServerFixture fx) : IClassFixture<RecoveryServerFixture>
{
    [Fact]
    public async Task During_grace_new_state_and_what_could_conflict_with_unreclaimed_state_are_GRACE_and_the_rest_goes_on()
    {
        Assert.False(fx.InGrace); // a first start: no records, no grace period
        string recordedName = ServerFixture.NewName("recorded");
        var root = await fx.RootAsync();
        string name = ServerFixture.NewName("kept");
        var f = (await fx.Session.CreateAsync(root, name).Bounded()).ValueOrThrow();
        Assert.True((await fx.Session.WriteAsync(f.FileHandle, f.StateId, 0, ServerFixture.Bytes("data")).Bounded()).IsOk);
        Assert.True((await fx.Session.CloseAsync(f.FileHandle, f.StateId).Bounded()).IsOk);
        var file = f.FileHandle;
        await using (var recorded = await fx.ConnectAsAsync(recordedName))
            await fx.RestartAsync(); // left without DESTROY_CLIENTID: recorded

        Assert.True(fx.InGrace);
        await using var client = await fx.ConnectAsync(); // a new client, done with RECLAIM_COMPLETE
        Assert.Equal(NfsStat4.Grace, (await client.OpenAsync(root, name, ShareAccess.Read).Bounded()).Status);
        Assert.Equal(NfsStat4.Grace, (await client.OpenAsync(file, ShareAccess.Read).Bounded()).Status);
        Assert.Equal(NfsStat4.Grace, (await client.OpenAsync(root, ServerFixture.NewName("new"), ShareAccess.Both, OpenHow.Unchecked()).Bounded()).Status);
        Assert.Equal(NfsStat4.Grace, (await client.LockTestAsync(file, LockType.Write, 0, 10, client.NewOwner("lock")).Bounded()).Status);
        Assert.Equal(NfsStat4.Grace, (await client.RemoveAsync(root, name).Bounded()).Status);
        Assert.Equal(NfsStat4.Grace, (await client.RenameAsync(root, name, root, name + "-renamed").Bounded()).Status);
        Assert.Equal(NfsStat4.Grace, (await client.ReadAsync(file, StateId.Anonymous, 0, 10).Bounded()).Status);
        Assert.Equal(NfsStat4.Grace, (await client.WriteAsync(file, StateId.Anonymous, 0, ServerFixture.Bytes("x")).Bounded()).Status);
        Assert.Equal(NfsStat4.Grace, (await client.SetAttrAsync(file, new SetAttributes { Size = 0 }, StateId.Anonymous).Bounded()).Status);

        Assert.Equal(file, (await client.LookupAsync(root, name).Bounded()).ValueOrThrow());
        Assert.Equal(4ul, (await client.GetAttrAsync(file, AttrBitmap.Of(FileAttr.Size)).Bounded()).ValueOrThrow().Size);
        Assert.Contains((await client.ReadDirAsync(root).Bounded()).ValueOrThrow(), e => e.Name == name);
        Assert.True((await client.SetAttrAsync(file, new SetAttributes { Mode = 0x1B6 }).Bounded()).IsOk); // not the size
        Assert.True((await client.MkdirAsync(root, ServerFixture.NewName("dir")).Bounded()).IsOk);
        Assert.True((await client.CommitAsync(file).Bounded()).IsOk);

        // The recorded client comes back and is done: the grace period is over, and everything above is allowed.
        await using var back = await fx.ConnectAsAsync(recordedName);
        Assert.False(fx.InGrace);
        Assert.Equal("data", System.Text.Encoding.UTF8.GetString((await client.ReadAsync(file, StateId.Anonymous, 0, 10).Bounded()).ValueOrThrow().Data.Span));
        Assert.True((await client.RenameAsync(root, name, root, name + "-renamed").Bounded()).IsOk);
        Assert.True((await client.RemoveAsync(root, name + "-renamed").Bounded()).IsOk);
    }
}
