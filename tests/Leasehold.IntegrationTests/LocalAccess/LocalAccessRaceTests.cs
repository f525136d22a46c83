using System.Collections.Concurrent;
using Leasehold.Export.Tests.LocalAccess;
using Leasehold.IntegrationTests.Delegations;
using Leasehold.Nfs4.Client;
using Leasehold.Testing;
using Xunit.Abstractions;
using Microsoft.Extensions.Logging;
using static Leasehold.IntegrationTests.LocalAccess.LocalScene;
using static Leasehold.IntegrationTests.Waits;

namespace Leasehold.IntegrationTests.LocalAccess;

/// <summary>Local opens racing NFS opens on many delegated files: no break is lost and no guard outlives its delegation.</summary>
public sealed class LocalAccessRaceTests(LocalAccessServerFixture fx, ITestOutputHelper output) : IClassFixture<LocalAccessServerFixture>
{
    private const int Files = 1000, Children = 4, NfsClients = 2;

    /// <summary>Longer than any recall round trip here, far shorter than a lost break (the kernel's 45 s, or our 44 s bound).</summary>
    private static readonly TimeSpan NoLocalOpenWaitsLonger = TimeSpan.FromSeconds(5);

    [LocalAccessFact]
    public async Task Thousand_files_local_opens_race_nfs_opens()
    {
        string dir = ServerFixture.NewName("race");
        Directory.CreateDirectory(fx.PathOf(dir));
        var names = Enumerable.Range(0, Files).Select(i => $"f{i}").ToArray();
        foreach (string name in names)
            await File.WriteAllTextAsync(Path.Join(fx.PathOf(dir), name), "hello"); // before any delegation: not a break
        var dirHandle = (await fx.Session.LookupPathAsync(dir).Bounded()).ValueOrThrow();

        var clients = new List<DelegationClient>();
        var recalled = new ConcurrentBag<StateId>();
        using var stop = new CancellationTokenSource();
        var returners = new List<Task>();
        await using var _ = new AsyncCleanup(async () =>
        {
            await stop.CancelAsync();
            foreach (var c in clients)
                await c.DisposeAsync();
        });
        for (int c = 0; c < NfsClients; c++)
        {
            var client = await DelegationClient.ConnectAsync(fx, backChannelSlots: 4);
            clients.Add(client);
            // A well-behaved client: returns every recalled delegation at once.
            returners.Add(Task.Run(async () =>
            {
                await foreach (var recall in client.Handler.Recalls.ReadAllAsync(stop.Token))
                {
                    recalled.Add(recall.StateId);
                    var status = await client.Session.DelegReturnAsync(recall.FileHandle, recall.StateId).Bounded();
                    Assert.True(status is NfsStat4.Ok or NfsStat4.BadStateId, $"DELEGRETURN: {status}");
                }
            }));
        }

        var nfs = clients.Select(client => Task.Run(async () =>
        {
            foreach (string name in names)
            {
                var opened = await client.Session.OpenAsync(dirHandle, name, ShareAccess.Read).Bounded();
                Assert.True(opened.Status is NfsStat4.Ok or NfsStat4.Delay, $"OPEN {name}: {opened.Status}");
            }
        })).ToList();
        var probes = new List<ProbeProcess>();
        await using var __ = new AsyncCleanup(async () =>
        {
            foreach (var p in probes)
                await p.DisposeAsync();
        });
        for (int i = 0; i < Children; i++)
            probes.Add(await ProbeProcess.StartAsync(holdLeaseBreakTimeShared: true));
        var local = probes.Select((probe, i) => Task.Run(async () =>
        {
            var waits = new List<TimeSpan>();
            foreach (string name in names.Skip(i * Files / Children).Concat(names.Take(i * Files / Children)))
            {
                var reply = await (await probe.StartCommandAsync($"timedopen {Path.Join(fx.PathOf(dir), name)} w")).WaitAsync(Waits.Timeout);
                Assert.True(reply.Ok, $"local open of {name}: {reply}");
                var v = reply.Value.Split(' ');
                waits.Add(Elapsed(long.Parse(v[1], System.Globalization.CultureInfo.InvariantCulture), long.Parse(v[2], System.Globalization.CultureInfo.InvariantCulture)));
                Assert.True((await probe.SendAsync($"close {v[0]}")).Ok);
            }
            return waits;
        })).ToList();

        await Task.WhenAll(nfs).WaitAsync(TimeSpan.FromMinutes(3));
        var allWaits = (await Task.WhenAll(local).WaitAsync(TimeSpan.FromMinutes(3))).SelectMany(w => w).ToList();

        Assert.Equal(Files * Children, allWaits.Count);
        Assert.True(allWaits.Max() < NoLocalOpenWaitsLonger, $"a local open waited {allWaits.Max()}: a break was lost or a guard outlived its delegation");
        Assert.NotEmpty(recalled); // the race was real: local opens met delegations
        allWaits.Sort();
        output.WriteLine($"{allWaits.Count} local opens, {recalled.Count} recalls: wait p50 {allWaits[allWaits.Count / 2].TotalMilliseconds:0.###} ms, "
            + $"p99 {allWaits[allWaits.Count * 99 / 100].TotalMilliseconds:0.###} ms, max {allWaits[^1].TotalMilliseconds:0.###} ms");
        // Delegations granted after the last local open of their file may remain: the clients give them back now.
        foreach (var client in clients)
        {
            foreach (string name in names)
            {
                var again = await client.Session.OpenAsync(dirHandle, name, ShareAccess.Read).Bounded();
                if (again.Status == NfsStat4.Ok && again.Value!.Delegation.Type == DelegationType.Read)
                    Assert.Equal(NfsStat4.Ok, await client.Session.DelegReturnAsync(again.Value.FileHandle, again.Value.Delegation.StateId).Bounded());
            }
        }
        var ours = names.Select(n => Inode.Of(Path.Join(fx.PathOf(dir), n))).ToHashSet();
        await WaitUntilAsync(() => !fx.Engine.Snapshot().Grants.Any(g => ours.Contains(g.File.Low) && g.Kind == Leasehold.Engine.GrantKind.Delegation),
            "no delegation on the files is left");
        Assert.DoesNotContain(OurLeases().Keys, ours.Contains);
        Assert.DoesNotContain(fx.Log.Entries, e => e.Level >= LogLevel.Warning && e.EventId != 4110); // 4110: a revocation
    }

    private sealed class AsyncCleanup(Func<Task> cleanup) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync() => await cleanup();
    }
}
