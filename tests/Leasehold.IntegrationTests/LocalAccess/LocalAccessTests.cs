using System.Diagnostics;
using Leasehold.Engine;
using Leasehold.Export.LocalAccess;
using Leasehold.Export.Tests.LocalAccess;
using Leasehold.Nfs4.Client;
using Leasehold.IntegrationTests.Delegations;
using Leasehold.Testing;
using static Leasehold.IntegrationTests.LocalAccess.LocalScene;
using static Leasehold.IntegrationTests.Waits;

namespace Leasehold.IntegrationTests.LocalAccess;

/// <summary>
/// Issue 9: a local process (a child: the probe) that opens, truncates or changes a delegated file recalls the
/// delegation through the server's kernel lease. Opens and truncates wait in the kernel until the holder's
/// DELEGRETURN; what a lease does not stop before Linux 6.19 (unlink, rename, link, chmod, utimes, O_RDONLY|O_TRUNC)
/// completes at once and recalls after the fact.
/// </summary>
public sealed class LocalAccessTests(LocalAccessServerFixture fx) : IClassFixture<LocalAccessServerFixture>
{
    private static readonly TimeSpan WithinOneSecond = TimeSpan.FromSeconds(1);

    [LocalAccessFact]
    public async Task Local_writer_waits_for_the_read_delegation()
    {
        var (root, name, _, path, ino) = await NewFileAsync(fx, "lw");
        await using var a = await DelegationClient.ConnectAsync(fx);
        var held = await HoldAsync(a, root, name, ShareAccess.Read, DelegationType.Read);
        Assert.Equal(["ACTIVE READ"], KernelView.Leases(ino));
        await using var child = await ProbeProcess.StartAsync(holdLeaseBreakTimeShared: true);

        var open = await child.StartCommandAsync($"timedopen {path} w");
        Assert.Equal(held.Delegation.StateId, (await a.NextRecallAsync()).StateId);
        Assert.False(await Finishes(open, StillWaiting), "the local open for write did not wait for the recall");
        Assert.Equal(["BREAKING UNLCK"], KernelView.Leases(ino));
        // The process the kernel holds is a waiting breaker in the engine too (what `leasehold locks` shows as WAITING).
        var recalled = Assert.Single(fx.Engine.Snapshot().Grants, g => g.File == FileKey.From(ino));
        Assert.Equal((GrantState.Breaking, 1), (recalled.State, recalled.WaitingBreakers));

        long returning = Stopwatch.GetTimestamp();
        Assert.Equal(NfsStat4.Ok, await a.Session.DelegReturnAsync(held.FileHandle, held.Delegation.StateId).Bounded());
        var (_, opened) = ParseTimedOpen(await open.WaitAsync(Waits.Timeout));

        Assert.True(opened > returning, "the local open completed before the DELEGRETURN was sent");
        Assert.True(Elapsed(returning, opened) < WithinOneSecond, $"the local open took {Elapsed(returning, opened)} after the DELEGRETURN");
        Assert.Empty(KernelView.Leases(ino));
        Assert.DoesNotContain(fx.Engine.Snapshot().Grants, g => g.File == FileKey.From(ino));
    }

    [LocalAccessFact]
    public async Task Local_reader_sees_the_write_delegation_holders_data()
    {
        var (root, name, _, path, ino) = await NewFileAsync(fx, "lr");
        await using var a = await DelegationClient.ConnectAsync(fx);
        var held = await HoldAsync(a, root, name, ShareAccess.Both, DelegationType.Write);
        Assert.Equal(["ACTIVE WRITE"], KernelView.Leases(ino));
        Assert.Equal(NfsStat4.Ok, (await a.Session.WriteAsync(held.FileHandle, held.Delegation.StateId, 0, ServerFixture.Bytes("HELLO"), StableHow.Unstable).Bounded()).Status);
        await using var child = await ProbeProcess.StartAsync(holdLeaseBreakTimeShared: true);

        var open = await child.StartCommandAsync($"open {path} r");
        Assert.Equal(held.Delegation.StateId, (await a.NextRecallAsync()).StateId);
        Assert.False(await Finishes(open, StillWaiting), "the local open for read did not wait for the write delegation's recall");

        // What a client does on CB_RECALL of a write delegation: flush, then return.
        Assert.Equal(NfsStat4.Ok, (await a.Session.CommitAsync(held.FileHandle).Bounded()).Status);
        Assert.Equal(NfsStat4.Ok, await a.Session.DelegReturnAsync(held.FileHandle, held.Delegation.StateId).Bounded());
        var reply = await open.WaitAsync(Waits.Timeout);
        Assert.True(reply.Ok, reply.ToString());

        Assert.Equal("HELLO", await child.OkAsync($"read {reply.Value} 16"));
        Assert.Empty(KernelView.Leases(ino));
    }

    [LocalAccessFact]
    public async Task Local_truncate_waits_for_the_recall()
    {
        var (root, name, file, path, ino) = await NewFileAsync(fx, "lt");
        await using var a = await DelegationClient.ConnectAsync(fx);
        var held = await HoldAsync(a, root, name, ShareAccess.Read, DelegationType.Read);
        await using var child = await ProbeProcess.StartAsync(holdLeaseBreakTimeShared: true);

        var truncate = await child.StartCommandAsync($"truncate {path} 0");
        Assert.Equal(held.Delegation.StateId, (await a.NextRecallAsync()).StateId);
        Assert.False(await Finishes(truncate, StillWaiting), "the local truncate did not wait for the recall");
        Assert.Equal(5, new FileInfo(path).Length); // the holder's view stands until it lets go

        Assert.Equal(NfsStat4.Ok, await a.Session.DelegReturnAsync(held.FileHandle, held.Delegation.StateId).Bounded());
        Assert.True((await truncate.WaitAsync(Waits.Timeout)).Ok);

        Assert.Equal(0UL, (await a.Session.GetAttrAsync(file).Bounded()).ValueOrThrow().Size);
        Assert.Empty(KernelView.Leases(ino));
    }

    [LocalAccessFact]
    public async Task Nonblocking_local_open_gets_EAGAIN_and_starts_a_recall()
    {
        var (root, name, _, path, ino) = await NewFileAsync(fx, "nb");
        await using var a = await DelegationClient.ConnectAsync(fx);
        var held = await HoldAsync(a, root, name, ShareAccess.Read, DelegationType.Read);
        await using var child = await ProbeProcess.StartAsync(holdLeaseBreakTimeShared: true);

        var refused = await child.SendAsync($"open {path} w nonblock");
        Assert.False(refused.Ok);
        Assert.Equal(ProbeReply.EAGAIN, refused.Errno);
        Assert.Equal(held.Delegation.StateId, (await a.NextRecallAsync()).StateId);

        Assert.Equal(NfsStat4.Ok, await a.Session.DelegReturnAsync(held.FileHandle, held.Delegation.StateId).Bounded());
        var retried = await child.SendAsync($"open {path} w nonblock");
        Assert.True(retried.Ok, retried.ToString()); // DELEGRETURN answered only once the kernel lease was gone
        Assert.Empty(KernelView.Leases(ino));
    }

    [LocalAccessTheory]
    [InlineData("chmod")]
    [InlineData("utimes")]
    [InlineData("link")]
    [InlineData("rename")]
    [InlineData("unlink")]
    [InlineData("rtrunc")]
    public async Task Local_unlink_rename_chmod_recall_after_the_fact(string operation)
    {
        var (root, name, file, path, _) = await NewFileAsync(fx, operation);
        await using var a = await DelegationClient.ConnectAsync(fx);
        var held = await HoldAsync(a, root, name, ShareAccess.Read, DelegationType.Read);
        await using var child = await ProbeProcess.StartAsync(holdLeaseBreakTimeShared: true);
        string other = ServerFixture.NewName(operation);
        string command = operation switch
        {
            "chmod" => $"chmod {path} 600",
            "utimes" => $"utimes {path}",
            "link" => $"link {path} {fx.PathOf(other)}",
            "rename" => $"rename {path} {fx.PathOf(other)}",
            "unlink" => $"unlink {path}",
            _ => $"open {path} rtrunc",
        };

        var done = await child.StartCommandAsync(command);
        if (fx.LocalAccess == LocalAccessMechanism.Delegations)
        {
            // Linux 6.19 and later: a kernel delegation makes these wait for the recall too.
            Assert.Equal(held.Delegation.StateId, (await a.NextRecallAsync()).StateId);
            Assert.False(await Finishes(done, StillWaiting), $"local {operation} did not wait for the recall");
        }
        else
        {
            // A kernel lease does not stop them: they complete at once, and fanotify reports them.
            var reply = await done.WaitAsync(Waits.Timeout);
            Assert.True(reply.Ok, reply.ToString());
            Assert.Equal(held.Delegation.StateId, (await a.NextRecallAsync()).StateId);
        }
        Assert.Equal(NfsStat4.Ok, await a.Session.DelegReturnAsync(held.FileHandle, held.Delegation.StateId).Bounded());
        Assert.True((await done.WaitAsync(Waits.Timeout)).Ok);

        // What the client sees once it has let go is the local change.
        switch (operation)
        {
            case "chmod":
                Assert.Equal(0x180u, (await a.Session.GetAttrAsync(file).Bounded()).ValueOrThrow().Mode); // 0600
                break;
            case "link":
                Assert.Equal(2u, (await a.Session.GetAttrAsync(file).Bounded()).ValueOrThrow().NumLinks);
                break;
            case "rename":
                Assert.Equal(file, (await a.Session.LookupAsync(root, other).Bounded()).ValueOrThrow());
                break;
            case "unlink":
                Assert.Equal(NfsStat4.NoEnt, (await a.Session.LookupAsync(root, name).Bounded()).Status);
                break;
            case "rtrunc":
                Assert.Equal(0UL, (await a.Session.GetAttrAsync(file).Bounded()).ValueOrThrow().Size);
                break;
        }
    }

    [LocalAccessFact]
    public async Task Holders_own_io_never_breaks_its_kernel_lease()
    {
        // A write delegation: WRITEs, COMMIT and a size SETATTR go through the guard's own descriptor.
        var (root, name, file, _, ino) = await NewFileAsync(fx, "own");
        await using var a = await DelegationClient.ConnectAsync(fx);
        var held = await HoldAsync(a, root, name, ShareAccess.Both, DelegationType.Write);
        for (int i = 0; i < 100; i++)
        {
            var written = await a.Session.WriteAsync(file, held.Delegation.StateId, (ulong)(i * 4), ServerFixture.Bytes($"{i,4}"), StableHow.Unstable).Bounded();
            Assert.Equal(NfsStat4.Ok, written.Status);
        }
        Assert.Equal(NfsStat4.Ok, (await a.Session.CommitAsync(file).Bounded()).Status);
        Assert.Equal(NfsStat4.Ok, (await a.Session.SetAttrAsync(file, new SetAttributes { Size = 200 }, held.Delegation.StateId).Bounded()).Status);
        Assert.Equal(["ACTIVE WRITE"], KernelView.Leases(ino));

        // A read delegation and the same client's own open for write beside it: each WRITE suspends the read lease and
        // takes it again.
        var (root2, name2, file2, _, ino2) = await NewFileAsync(fx, "own-rd");
        var reading = await HoldAsync(a, root2, name2, ShareAccess.Read, DelegationType.Read);
        var writing = (await a.Session.OpenAsync(root2, name2, ShareAccess.Write).Bounded()).ValueOrThrow();
        for (int i = 0; i < 20; i++)
        {
            Assert.Equal(NfsStat4.Ok, (await a.Session.WriteAsync(file2, writing.StateId, 0, ServerFixture.Bytes($"w{i}")).Bounded()).Status);
            Assert.Equal(["ACTIVE READ"], KernelView.Leases(ino2));
        }

        var grants = fx.Engine.Snapshot().Grants.Where(g => g.File == FileKey.From(ino) || g.File == FileKey.From(ino2)).ToList();
        Assert.Equal(2, grants.Count);
        Assert.All(grants, g => Assert.Equal(GrantState.Active, g.State));
        Assert.False(a.Handler.Recalls.TryRead(out var recall), $"the holder's own I/O recalled {recall}");
        Assert.DoesNotContain(fx.Log.Entries, e => e.EventId == 2018); // no own open conflicted with a lease
        Assert.Equal(NfsStat4.Ok, await a.Session.DelegReturnAsync(file, held.Delegation.StateId).Bounded());
        Assert.Equal(NfsStat4.Ok, await a.Session.DelegReturnAsync(file2, reading.Delegation.StateId).Bounded());
    }

    [LocalAccessFact]
    public async Task Kernel_leases_match_the_engine_snapshot()
    {
        const int Files = 50;
        var files = new List<(FileHandle Root, string Name, FileHandle File, string Path, ulong Ino)>();
        for (int i = 0; i < Files; i++)
            files.Add(await NewFileAsync(fx, "snap"));
        var ours = files.Select(f => f.Ino).ToHashSet();
        var clients = new List<DelegationClient>();
        var held = new List<(DelegationClient Client, OpenedFile Opened)>();
        try
        {
            for (int c = 0; c < 3; c++)
            {
                var client = await DelegationClient.ConnectAsync(fx);
                clients.Add(client);
                foreach (var f in files)
                    held.Add((client, await HoldAsync(client, f.Root, f.Name, ShareAccess.Read, DelegationType.Read)));
            }

            var delegated = fx.Engine.Snapshot().Grants
                .Where(g => g.Kind == GrantKind.Delegation && g.State == GrantState.Active && ours.Contains(g.File.Low))
                .ToList();
            Assert.Equal(3 * Files, delegated.Count);
            var leases = OurLeases().Where(l => ours.Contains(l.Key)).ToDictionary();
            Assert.Equal(delegated.Select(g => g.File.Low).ToHashSet(), leases.Keys.ToHashSet());
            Assert.All(leases.Values, states => Assert.Equal(["ACTIVE READ"], states)); // one lease per file, shared by its three holders

            foreach (var (client, opened) in held)
                Assert.Equal(NfsStat4.Ok, await client.Session.DelegReturnAsync(opened.FileHandle, opened.Delegation.StateId).Bounded());
            Assert.DoesNotContain(OurLeases().Keys, ours.Contains);
            Assert.DoesNotContain(fx.Engine.Snapshot().Grants, g => ours.Contains(g.File.Low));
        }
        finally
        {
            foreach (var client in clients)
                await client.DisposeAsync();
        }
    }
}
