using System.Text;
using Leasehold.Nfs4.Client;
using Leasehold.Nfs4.Client.Callbacks;

namespace Leasehold.Nfs4.Client.Tests;

/// <summary>
/// The client against a real NFSv4.1 server (LEASEHOLD_TEST_NFS; NFS-Ganesha via bench/ganesha.sh). Each test works
/// in names of its own inside the fixture's directory, so they may run in any order.
/// </summary>
public sealed class ServerTests(ServerFixture fx) : IClassFixture<ServerFixture>
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private Nfs4Session S => fx.Session;

    [NfsServerFact]
    public async Task Session_setup_grants_slots_a_back_channel_and_a_lease()
    {
        Assert.NotEqual(0ul, S.ClientId);
        Assert.NotEqual(default, S.SessionId);
        Assert.True(S.SlotCount >= 1);
        Assert.True(S.HasBackChannel, "the server should bind the back channel to the session's connection");
        Assert.InRange(S.LeaseTimeSeconds, 1u, 3600u);
        Assert.Equal(NfsStat4.Ok, await S.RenewAsync().WaitAsync(Bound));
    }

    [NfsServerFact]
    public async Task Lookup_of_the_export_path_gives_a_directory_handle()
    {
        var fh = (await S.LookupPathAsync(NfsTestServer.Endpoint.Path).WaitAsync(Bound)).ValueOrThrow();
        var attrs = (await S.GetAttrAsync(fh).WaitAsync(Bound)).ValueOrThrow();
        Assert.Equal(NfsFileType.Directory, attrs.Type);
        Assert.NotNull(attrs.FileId);
        Assert.NotNull(attrs.Fsid);

        var missing = await S.LookupAsync(fh, "no-such-name-" + Guid.NewGuid().ToString("N")).WaitAsync(Bound);
        Assert.Equal(NfsStat4.NoEnt, missing.Status);
        Assert.Equal(NfsOpcode.Lookup, missing.FailedOp);
    }

    [NfsServerFact]
    public async Task Create_write_read_back_and_close()
    {
        var created = (await S.CreateAsync(fx.Directory, "rw.txt", new SetAttributes { Mode = Convert.ToUInt32("644", 8) })
            .WaitAsync(Bound)).ValueOrThrow();
        Assert.Equal(NfsFileType.Regular, created.Attributes?.Type);
        byte[] body = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("leasehold ", 1000)));

        var written = (await S.WriteAsync(created.FileHandle, created.StateId, 0, body, StableHow.FileSync).WaitAsync(Bound)).ValueOrThrow();
        Assert.Equal((uint)body.Length, written.Count);
        Assert.Equal(StableHow.FileSync, written.Committed);

        var read = (await S.ReadAsync(created.FileHandle, created.StateId, 0, 64 * 1024).WaitAsync(Bound)).ValueOrThrow();
        Assert.True(read.Eof);
        Assert.Equal(body, read.Data.ToArray());

        var tail = (await S.ReadAsync(created.FileHandle, created.StateId, 9990, 100).WaitAsync(Bound)).ValueOrThrow();
        Assert.Equal("leasehold ", Encoding.UTF8.GetString(tail.Data.Span));

        var closed = await S.CloseAsync(created.FileHandle, created.StateId).WaitAsync(Bound);
        Assert.True(closed.IsOk, closed.ToString());

        // The closed stateid is no longer good for I/O.
        var stale = await S.ReadAsync(created.FileHandle, created.StateId, 0, 10).WaitAsync(Bound);
        Assert.False(stale.IsOk);
    }

    [NfsServerFact]
    public async Task Unstable_write_then_commit_returns_the_same_verifier()
    {
        var f = (await S.CreateAsync(fx.Directory, "unstable.bin").WaitAsync(Bound)).ValueOrThrow();
        var w = (await S.WriteAsync(f.FileHandle, f.StateId, 0, new byte[8192], StableHow.Unstable).WaitAsync(Bound)).ValueOrThrow();
        var commit = (await S.CommitAsync(f.FileHandle).WaitAsync(Bound));
        Assert.True(commit.IsOk, commit.ToString());
        if (w.Committed == StableHow.Unstable)
            Assert.Equal(w.Verifier, commit.Value);
        Assert.True((await S.CloseAsync(f.FileHandle, f.StateId).WaitAsync(Bound)).IsOk);
    }

    [NfsServerFact]
    public async Task GetAttr_reports_size_owner_group_mode_and_times()
    {
        var f = (await S.CreateAsync(fx.Directory, "attrs.bin", new SetAttributes { Mode = Convert.ToUInt32("640", 8) })
            .WaitAsync(Bound)).ValueOrThrow();
        (await S.WriteAsync(f.FileHandle, f.StateId, 0, new byte[5000]).WaitAsync(Bound)).ValueOrThrow();

        var a = (await S.GetAttrAsync(f.FileHandle, AttrBitmap.Of(FileAttr.SupportedAttrs, FileAttr.Type, FileAttr.Change,
            FileAttr.Size, FileAttr.Fsid, FileAttr.LeaseTime, FileAttr.FileId, FileAttr.Mode, FileAttr.NumLinks, FileAttr.Owner,
            FileAttr.OwnerGroup, FileAttr.SpaceUsed, FileAttr.TimeAccess, FileAttr.TimeMetadata, FileAttr.TimeModify,
            FileAttr.MountedOnFileId)).WaitAsync(Bound)).ValueOrThrow();
        Assert.Equal(5000ul, a.Size);
        Assert.Equal(Convert.ToUInt32("640", 8), a.Mode! & 0xFFF);
        Assert.Equal(1u, a.NumLinks);
        Assert.Equal("0", a.Owner); // root, sent as AUTH_SYS uid 0; numeric owners (no idmapping)
        Assert.Equal("0", a.OwnerGroup);
        Assert.True(a.SupportedAttrs!.Contains(FileAttr.Size));
        Assert.NotNull(a.Change);
        Assert.NotNull(a.TimeModify);
        Assert.True(a.TimeModify!.Value.ToDateTimeOffset().Year >= 2020);
        Assert.NotNull(a.SpaceUsed);

        // SETATTR size through the open stateid, and the new size is visible.
        var set = await S.SetAttrAsync(f.FileHandle, new SetAttributes { Size = 100, Mode = Convert.ToUInt32("600", 8) }, f.StateId).WaitAsync(Bound);
        Assert.True(set.IsOk, set.ToString());
        Assert.True(set.Value!.Contains(FileAttr.Size));
        var after = (await S.GetAttrAsync(f.FileHandle).WaitAsync(Bound)).ValueOrThrow();
        Assert.Equal(100ul, after.Size);
        Assert.Equal(Convert.ToUInt32("600", 8), after.Mode! & 0xFFF);
        Assert.NotEqual(a.Change, after.Change);
        Assert.True((await S.CloseAsync(f.FileHandle, f.StateId).WaitAsync(Bound)).IsOk);
    }

    [NfsServerFact]
    public async Task Rename_moves_a_name_and_remove_deletes_it()
    {
        var dir = (await S.MkdirAsync(fx.Directory, "ren").WaitAsync(Bound)).ValueOrThrow();
        var f = (await S.CreateAsync(dir, "before").WaitAsync(Bound)).ValueOrThrow();
        Assert.True((await S.CloseAsync(f.FileHandle, f.StateId).WaitAsync(Bound)).IsOk);

        var renamed = await S.RenameAsync(dir, "before", dir, "after").WaitAsync(Bound);
        Assert.True(renamed.IsOk, renamed.ToString());
        Assert.NotEqual(renamed.Value!.Source.Before, renamed.Value.Source.After);
        Assert.Equal(NfsStat4.NoEnt, (await S.LookupAsync(dir, "before").WaitAsync(Bound)).Status);
        var moved = (await S.LookupAsync(dir, "after").WaitAsync(Bound)).ValueOrThrow();
        Assert.Equal(f.FileHandle, moved);

        var removed = await S.RemoveAsync(dir, "after").WaitAsync(Bound);
        Assert.True(removed.IsOk, removed.ToString());
        Assert.Equal(NfsStat4.NoEnt, (await S.LookupAsync(dir, "after").WaitAsync(Bound)).Status);
        Assert.Equal(NfsStat4.NoEnt, (await S.RemoveAsync(dir, "after").WaitAsync(Bound)).Status);
    }

    [NfsServerFact]
    public async Task ReadDir_lists_every_entry_across_several_round_trips()
    {
        var dir = (await S.MkdirAsync(fx.Directory, "many").WaitAsync(Bound)).ValueOrThrow();
        var names = Enumerable.Range(0, 300).Select(i => $"entry-with-a-longish-name-{i:D4}").ToArray();
        await Parallel.ForEachAsync(names, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (name, ct) =>
        {
            var f = (await S.CreateAsync(dir, name, cancellationToken: ct)).ValueOrThrow();
            (await S.CloseAsync(f.FileHandle, f.StateId, ct)).ValueOrThrow();
        });

        var listed = (await S.ReadDirAsync(dir, AttrBitmap.Of(FileAttr.Type, FileAttr.FileId, FileAttr.Size)).WaitAsync(Bound)).ValueOrThrow();
        Assert.Equal(names.Order(StringComparer.Ordinal), listed.Select(e => e.Name).Order(StringComparer.Ordinal));
        Assert.All(listed, e => Assert.Equal(NfsFileType.Regular, e.Attributes.Type));
        Assert.Equal(listed.Count, listed.Select(e => e.Attributes.FileId).Distinct().Count());
    }

    [NfsServerFact]
    public async Task Lock_conflicts_between_owners_until_unlocked()
    {
        var f = (await S.CreateAsync(fx.Directory, "locks").WaitAsync(Bound)).ValueOrThrow();
        var ownerA = S.NewOwner("lock");
        var ownerB = S.NewOwner("lock");

        var a = await S.LockAsync(f.FileHandle, LockType.Write, 0, 100, Locker.FromOpen(f.StateId, ownerA)).WaitAsync(Bound);
        Assert.Equal(NfsStat4.Ok, a.Status);

        var test = await S.LockTestAsync(f.FileHandle, LockType.Write, 50, 10, ownerB).WaitAsync(Bound);
        Assert.Equal(NfsStat4.Denied, test.Status);
        Assert.Equal(0ul, test.Denied!.Offset);
        Assert.Equal(100ul, test.Denied.Length);
        Assert.Equal(ownerA.Owner, test.Denied.Owner.Owner);

        var b = await S.LockAsync(f.FileHandle, LockType.Write, 50, 10, Locker.FromOpen(f.StateId, ownerB)).WaitAsync(Bound);
        Assert.Equal(NfsStat4.Denied, b.Status);
        Assert.Equal(LockType.Write, b.Denied!.Type);

        // Disjoint range: fine for B.
        var b2 = await S.LockAsync(f.FileHandle, LockType.Write, 200, 10, Locker.FromOpen(f.StateId, ownerB)).WaitAsync(Bound);
        Assert.Equal(NfsStat4.Ok, b2.Status);

        var unlocked = await S.UnlockAsync(f.FileHandle, LockType.Write, a.StateId, 0, 100).WaitAsync(Bound);
        Assert.True(unlocked.IsOk, unlocked.ToString());
        Assert.True(unlocked.Value.SeqId > a.StateId.SeqId);

        var b3 = await S.LockAsync(f.FileHandle, LockType.Write, 50, 10, Locker.Existing(b2.StateId)).WaitAsync(Bound);
        Assert.Equal(NfsStat4.Ok, b3.Status);
        Assert.True((await S.UnlockAsync(f.FileHandle, LockType.Write, b3.StateId, 0, ulong.MaxValue).WaitAsync(Bound)).IsOk);

        // Locks released: the lock stateids can be freed, then CLOSE succeeds.
        Assert.Equal(NfsStat4.Ok, await S.FreeStateIdAsync(unlocked.Value).WaitAsync(Bound));
        Assert.True((await S.CloseAsync(f.FileHandle, f.StateId).WaitAsync(Bound)).IsOk);
    }

    [NfsServerFact]
    public async Task Compounds_run_in_parallel_on_different_slots()
    {
        await using var session = await ServerFixture.ConnectAsync(new Nfs4SessionOptions { Slots = 8 }).WaitAsync(Bound);
        Assert.True(session.SlotCount > 1);
        var results = await Task.WhenAll(Enumerable.Range(0, 200).Select(_ => session.GetAttrAsync(fx.Directory))).WaitAsync(Bound);
        Assert.All(results, r => Assert.True(r.IsOk, r.ToString()));
        Assert.Equal(0, session.RetiredSlots);
    }

    [NfsServerFact]
    public async Task Open_modes_create_guarded_exclusive_and_by_handle()
    {
        var owner = S.NewOwner("open");
        var g0 = (await S.OpenAsync(fx.Directory, "guarded", ShareAccess.Read, OpenHow.Guarded(), owner: owner).WaitAsync(Bound)).ValueOrThrow();
        // Same owner again, for writing too: the server upgrades the one open (same stateid "other", higher seqid).
        var g = (await S.OpenAsync(fx.Directory, "guarded", ShareAccess.Both, owner: owner).WaitAsync(Bound)).ValueOrThrow();
        Assert.Equal(g0.StateId.Other, g.StateId.Other);
        Assert.True(g.StateId.SeqId > g0.StateId.SeqId);
        var again = await S.OpenAsync(fx.Directory, "guarded", ShareAccess.Both, OpenHow.Guarded(), owner: owner).WaitAsync(Bound);
        Assert.Equal(NfsStat4.Exist, again.Status);
        Assert.Equal(NfsOpcode.Open, again.FailedOp);

        var x1 = (await S.OpenAsync(fx.Directory, "exclusive", ShareAccess.Both, OpenHow.Exclusive41(42)).WaitAsync(Bound)).ValueOrThrow();
        var x2 = (await S.OpenAsync(fx.Directory, "exclusive", ShareAccess.Both, OpenHow.Exclusive41(42), owner: S.NewOwner()).WaitAsync(Bound)).ValueOrThrow();
        Assert.Equal(x1.FileHandle, x2.FileHandle); // same verifier: the retry is the same create
        var x3 = await S.OpenAsync(fx.Directory, "exclusive", ShareAccess.Both, OpenHow.Exclusive41(43), owner: S.NewOwner()).WaitAsync(Bound);
        Assert.Equal(NfsStat4.Exist, x3.Status);

        var byFh = (await S.OpenAsync(g.FileHandle, ShareAccess.Read, owner: S.NewOwner()).WaitAsync(Bound)).ValueOrThrow();
        Assert.Equal(g.FileHandle, byFh.FileHandle);
        Assert.Contains(byFh.Delegation.Type, new[] { DelegationType.None, DelegationType.Read, DelegationType.NoneExt });

        // Share reservations show the downgrade: DENY_WRITE conflicts with our write access until we give it up.
        var denyWriteOwner = S.NewOwner();
        var blocked = await S.OpenAsync(g.FileHandle, ShareAccess.Read, ShareDeny.Write, denyWriteOwner).WaitAsync(Bound);
        Assert.Equal(NfsStat4.ShareDenied, blocked.Status);
        // OPEN_DOWNGRADE goes to the union of some OPENs in effect (RFC 8881 §18.18.3): open for READ too, then drop WRITE.
        var alsoRead = (await S.OpenAsync(g.FileHandle, ShareAccess.Read, owner: owner).WaitAsync(Bound)).ValueOrThrow();
        var down = await S.OpenDowngradeAsync(g.FileHandle, alsoRead.StateId, ShareAccess.Read).WaitAsync(Bound);
        Assert.True(down.IsOk, down.ToString());
        Assert.True(down.Value.SeqId > alsoRead.StateId.SeqId);
        var allowed = (await S.OpenAsync(g.FileHandle, ShareAccess.Read, ShareDeny.Write, denyWriteOwner).WaitAsync(Bound)).ValueOrThrow();
        await S.CloseAsync(allowed.FileHandle, allowed.StateId).WaitAsync(Bound);

        // A read-only open cannot write (Ganesha 4.3 still lets the downgraded stateid write, so that one is not asserted).
        var ro = (await S.OpenAsync(g.FileHandle, ShareAccess.Read, owner: S.NewOwner()).WaitAsync(Bound)).ValueOrThrow();
        Assert.Equal(NfsStat4.OpenMode, (await S.WriteAsync(g.FileHandle, ro.StateId, 0, new byte[10]).WaitAsync(Bound)).Status);
        await S.CloseAsync(ro.FileHandle, ro.StateId).WaitAsync(Bound);

        var tested = (await S.TestStateIdAsync([down.Value, byFh.StateId, new StateId(1, 12345)]).WaitAsync(Bound)).ValueOrThrow();
        Assert.Equal(NfsStat4.Ok, tested[0]);
        Assert.Equal(NfsStat4.Ok, tested[1]);
        Assert.NotEqual(NfsStat4.Ok, tested[2]);

        foreach (var (fh, sid) in new[] { (g.FileHandle, down.Value), (byFh.FileHandle, byFh.StateId), (x1.FileHandle, x1.StateId), (x2.FileHandle, x2.StateId) })
            await S.CloseAsync(fh, sid).WaitAsync(Bound);
    }

    [NfsServerFact]
    public async Task Namespace_ops_symlink_readlink_link_lookupp_access()
    {
        var dir = (await S.MkdirAsync(fx.Directory, "ns").WaitAsync(Bound)).ValueOrThrow();
        var link = (await S.SymlinkAsync(dir, "sym", "target/of/link").WaitAsync(Bound)).ValueOrThrow();
        Assert.Equal("target/of/link", (await S.ReadLinkAsync(link).WaitAsync(Bound)).ValueOrThrow());
        Assert.Equal(NfsFileType.Symlink, (await S.GetAttrAsync(link).WaitAsync(Bound)).ValueOrThrow().Type);

        var f = (await S.CreateAsync(dir, "file").WaitAsync(Bound)).ValueOrThrow();
        await S.CloseAsync(f.FileHandle, f.StateId).WaitAsync(Bound);
        Assert.True((await S.LinkAsync(f.FileHandle, dir, "hardlink").WaitAsync(Bound)).IsOk);
        Assert.Equal(2u, (await S.GetAttrAsync(f.FileHandle).WaitAsync(Bound)).ValueOrThrow().NumLinks);

        using (var c = new CompoundBuilder().PutFh(dir).LookupP().GetFh())
        {
            var reply = await S.CompoundAsync(c).WaitAsync(Bound);
            Assert.True(reply.IsOk, reply.ToString());
            Assert.Equal(fx.Directory, reply.Get<GetFhResult>().FileHandle);
        }
        using (var c = new CompoundBuilder().PutFh(f.FileHandle).LookupP())
            Assert.Equal(NfsStat4.NotDir, (await S.CompoundAsync(c).WaitAsync(Bound)).Status);

        var access = (await S.AccessAsync(f.FileHandle, AccessBits.Read | AccessBits.Modify | AccessBits.Execute).WaitAsync(Bound)).ValueOrThrow();
        Assert.True(access.Supported.HasFlag(AccessBits.Read));
        Assert.True(access.Access.HasFlag(AccessBits.Read));
    }

    [NfsServerFact]
    public async Task Verify_nverify_savefh_restorefh_and_secinfo_no_name()
    {
        var f = (await S.CreateAsync(fx.Directory, "verify").WaitAsync(Bound)).ValueOrThrow();
        await S.CloseAsync(f.FileHandle, f.StateId).WaitAsync(Bound);

        using (var c = new CompoundBuilder().PutFh(f.FileHandle).Verify(new SetAttributes { Type = NfsFileType.Regular }).GetAttr(FileAttr.Size))
            Assert.True((await S.CompoundAsync(c).WaitAsync(Bound)).IsOk);
        using (var c = new CompoundBuilder().PutFh(f.FileHandle).Verify(new SetAttributes { Type = NfsFileType.Directory }).GetAttr(FileAttr.Size))
        {
            var reply = await S.CompoundAsync(c).WaitAsync(Bound);
            Assert.Equal(NfsStat4.NotSame, reply.Status);
            Assert.Null(reply.Find<GetAttrResult>()); // the server stopped at VERIFY
        }
        using (var c = new CompoundBuilder().PutFh(f.FileHandle).NVerify(new SetAttributes { Type = NfsFileType.Regular }))
            Assert.Equal(NfsStat4.Same, (await S.CompoundAsync(c).WaitAsync(Bound)).Status);

        using (var c = new CompoundBuilder().PutFh(f.FileHandle).SaveFh().PutFh(fx.Directory).RestoreFh().GetFh())
            Assert.Equal(f.FileHandle, (await S.CompoundAsync(c).WaitAsync(Bound)).Get<GetFhResult>().FileHandle);

        using (var c = new CompoundBuilder().PutFh(fx.Directory).SecInfoNoName())
        {
            var reply = await S.CompoundAsync(c).WaitAsync(Bound);
            Assert.True(reply.IsOk, reply.ToString());
            Assert.Contains(reply.Get<SecInfoResult>().Flavors, s => s.Flavor == 1); // AUTH_SYS
        }
    }

    [NfsServerFact]
    public async Task Bind_conn_to_session_from_a_second_connection()
    {
        await using var rpc = await Rpc.RpcClient.ConnectAsync(await NfsTestServer.Endpoint.ResolveAsync()).WaitAsync(Bound);
        using var c = new CompoundBuilder().BindConnToSession(S.SessionId, ChannelDirFromClient.Fore);
        var r = await rpc.CallAsync(Nfs4Session.NfsProgram, Nfs4Session.NfsVersion, 1, S.Credentials, c, static (w, b) => b.WriteTo(w)).WaitAsync(Bound);
        var reply = CompoundReply.Decode(r.Results);
        Assert.True(reply.IsOk, reply.ToString());
        var bound = reply.Get<BindConnToSessionResult>();
        Assert.Equal(S.SessionId, bound.SessionId);
        Assert.Equal(ChannelDirFromServer.Fore, bound.Direction);
    }

    [NfsServerFact]
    public async Task A_compound_without_sequence_is_refused()
    {
        using var c = new CompoundBuilder().PutRootFh().GetFh();
        var reply = await S.SendAsync(c).WaitAsync(Bound);
        Assert.Equal(NfsStat4.OpNotInSession, reply.Status);
        Assert.True(reply.Results.Count <= 1); // Ganesha answers with an empty resarray
        Assert.All(reply.Results, r => Assert.Equal(NfsStat4.OpNotInSession, r.Status));
    }

    [NfsServerFact]
    public async Task A_second_session_can_be_destroyed_cleanly()
    {
        var handler = new RecordingCallbackHandler();
        var session = await ServerFixture.ConnectAsync(new Nfs4SessionOptions { CallbackHandler = handler, RenewLease = true }).WaitAsync(Bound);
        Assert.Same(handler, session.CallbackHandler);
        Assert.True((await session.LookupPathAsync(NfsTestServer.Endpoint.Path).WaitAsync(Bound)).IsOk);
        await session.DisposeAsync().AsTask().WaitAsync(Bound);
        Assert.Equal(Rpc.RpcClientState.Closed, session.Rpc.State);
    }
}
