using Leasehold.Nfs4.Client;
using Leasehold.Testing;

namespace Leasehold.IntegrationTests;

/// <summary>
/// A server restart on the same export and state directories: file handles are persistent (RFC 8881 §4.2.1,
/// fh_expire_type FH4_PERSISTENT), while sessions, client ids and stateids belong to the old instance and are refused
/// (the old client gets its state back only by reclaiming it: Recovery/).
/// </summary>
public sealed class RestartTests(ServerFixture fx) : IClassFixture<ServerFixture>
{
    [Fact]
    public async Task File_handles_survive_a_restart_and_the_old_session_and_state_do_not()
    {
        var s = fx.Session;
        var root = await fx.RootAsync();
        var dir = (await s.MkdirAsync(root, ServerFixture.NewName("kept")).Bounded()).ValueOrThrow();
        var f = (await s.CreateAsync(dir, "file").Bounded()).ValueOrThrow();
        Assert.True((await s.WriteAsync(f.FileHandle, f.StateId, 0, ServerFixture.Bytes("survives")).Bounded()).IsOk);
        Assert.True((await s.CloseAsync(f.FileHandle, f.StateId).Bounded()).IsOk);
        var before = (await s.GetAttrAsync(f.FileHandle, AttrBitmap.Of(FileAttr.FileId, FileAttr.Size, FileAttr.FhExpireType)).Bounded()).ValueOrThrow();
        Assert.Equal(0u, before.FhExpireType); // FH4_PERSISTENT

        // A client that is still around when the server goes down, holding an open.
        string oldName = ServerFixture.NewName("old");
        await using var old = await fx.ConnectAsync(options: new Nfs4SessionOptions { OwnerId = oldName });
        var open = (await old.OpenAsync(f.FileHandle, ShareAccess.Read).Bounded()).ValueOrThrow();

        await fx.RestartAsync();
        // It was recorded, so the new instance runs a grace period for it; it comes back, reclaims nothing and says
        // it is done (RECLAIM_COMPLETE), which ends the grace period: the anonymous READ below would wait for it.
        await using (await fx.ConnectAsync(options: new Nfs4SessionOptions { OwnerId = oldName }))
        {
        }
        await using var fresh = await fx.ConnectAsync();

        // The handles from before still name the same files.
        Assert.Equal(root, await fx.RootAsync());
        var after = (await fresh.GetAttrAsync(f.FileHandle, AttrBitmap.Of(FileAttr.FileId, FileAttr.Size)).Bounded()).ValueOrThrow();
        Assert.Equal(before.FileId, after.FileId);
        Assert.Equal(before.Size, after.Size);
        Assert.Equal("survives", System.Text.Encoding.UTF8.GetString(
            (await fresh.ReadAsync(f.FileHandle, StateId.Anonymous, 0, 100).Bounded()).ValueOrThrow().Data.Span));
        Assert.Equal(f.FileHandle, (await fresh.LookupAsync(dir, "file").Bounded()).ValueOrThrow());

        // The old session is unknown to the new instance.
        using (var c = new CompoundBuilder("old-session").Sequence(old.SessionId, slot: 0, sequenceId: 100).PutRootFh())
            Assert.Equal(NfsStat4.BadSession, (await fresh.SendAsync(c).Bounded()).Status);

        // The old stateid is recognised as one from an earlier instance.
        var stale = await fresh.ReadAsync(f.FileHandle, open.StateId, 0, 10).Bounded();
        Assert.Equal(NfsStat4.StaleStateId, stale.Status);

        // The old connection was closed by the shutdown: the old session object notices, without hanging.
        await old.Rpc.Completion.Bounded();
    }
}

/// <summary>A server whose clock never moves, so a restart happens "within the same second" every time.</summary>
public sealed class FrozenClockServerFixture : ServerFixture
{
    public override TimeProvider Time { get; } = new ManualTimeProvider();
}

/// <summary>What must differ between two instances of the server even when the second starts in the same second.</summary>
public sealed class QuickRestartTests(FrozenClockServerFixture fx) : IClassFixture<FrozenClockServerFixture>
{
    [Fact]
    public async Task A_client_id_from_before_a_quick_restart_is_STALE_CLIENTID()
    {
        await using var old = await fx.ConnectAsync();
        await fx.RestartAsync();
        await using var fresh = await fx.ConnectAsync();

        Assert.NotEqual(old.ClientId, fresh.ClientId);
        using var c = new CompoundBuilder("old-client").CreateSession(new CreateSessionArgs(old.ClientId, 1, CreateSessionFlags.None,
            old.ForeChannel!, old.BackChannel!, 0x4000_0000, [fresh.Credentials]));
        Assert.Equal(NfsStat4.StaleClientId, (await fresh.SendAsync(c).Bounded()).Status);
    }

    [Fact]
    public async Task The_write_verifier_changes_across_a_quick_restart()
    {
        // Made on disk, not over the wire: a grace period left by the other test would refuse a create (NFS4ERR_GRACE).
        string name = ServerFixture.NewName("verifier");
        await File.WriteAllTextAsync(Path.Join(fx.ExportPath, name), "unstable");
        var file = (await fx.Session.LookupAsync(await fx.RootAsync(), name).Bounded()).ValueOrThrow();
        ulong before = (await fx.Session.CommitAsync(file).Bounded()).ValueOrThrow();

        await fx.RestartAsync();
        ulong after = (await fx.Session.CommitAsync(file).Bounded()).ValueOrThrow();
        Assert.NotEqual(before, after); // a client resends its unstable writes
    }
}
