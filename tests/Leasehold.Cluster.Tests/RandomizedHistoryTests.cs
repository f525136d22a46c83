using System.Diagnostics;
using System.Globalization;
using Leasehold.Cluster.Tests.Etcd;
using Leasehold.Engine;

namespace Leasehold.Cluster.Tests;

/// <summary>
/// Random opens, closes, delegations and returns on a few files from two nodes, recorded in the token history, then
/// checked: no two nodes ever held conflicting rights on one file at the same time.
/// </summary>
[Collection(EtcdCollection.Name)]
public sealed class RandomizedHistoryTests : EtcdNodeTests
{
    private readonly string _history = Path.Combine(Path.GetTempPath(), $"lh-history-{Guid.NewGuid():N}");

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        File.Delete(_history);
    }

    [EtcdFact]
    public async Task TwoNodesNeverHoldConflictingRightsAtOnce()
    {
        foreach (string name in new[] { "a", "b" })
        {
            var options = ClusterNode.Options(Etcd.Endpoints, name);
            options.HistoryFile = _history;
            Nodes.Add(await ClusterNode.StartAsync(options));
        }
        int seed = Environment.TickCount;
        var until = Stopwatch.StartNew();
        int opens = 0, delegations = 0;
        var workers = new List<Task>();
        for (int n = 0; n < Nodes.Count; n++)
        {
            for (int w = 0; w < 3; w++)
            {
                var node = Nodes[n];
                var random = new Random(seed + n * 10 + w);
                var owner = new Owner((ulong)(n * 10 + w + 1), 1);
                workers.Add(Task.Run(async () =>
                {
                    while (until.Elapsed < TimeSpan.FromSeconds(6))
                    {
                        var file = FileKey.From((ulong)random.Next(3) + 1);
                        if (random.Next(3) == 0)
                        {
                            var mode = random.Next(2) == 0 ? GrantMode.Read : GrantMode.Write;
                            var granted = await node.Engine.GrantAsync(new GrantRequest(file, owner, GrantKind.Delegation, mode, node.Holder));
                            if (granted.Status == GrantStatus.Granted)
                            {
                                Interlocked.Increment(ref delegations);
                                await Task.Delay(random.Next(30));
                                node.Engine.Release(granted.Grant!);
                            }
                        }
                        else
                        {
                            var access = (OpenAccess)random.Next(1, 4);
                            var opened = await node.Engine.OpenAsync(file, owner, access, BreakMode.Await).AsTask().WaitAsync(TimeSpan.FromSeconds(20));
                            if (opened.CanProceed)
                            {
                                Interlocked.Increment(ref opens);
                                await Task.Delay(random.Next(30));
                                node.Engine.Close(file, owner, access);
                            }
                        }
                    }
                }));
            }
        }
        await Task.WhenAll(workers);
        foreach (var node in Nodes)
            await node.DisposeAsync();
        Nodes.Clear();

        var lines = File.ReadAllLines(_history);
        Console.Error.WriteLine($"randomized history: seed {seed}, {opens} opens, {delegations} delegations, {lines.Length} token changes");
        Assert.True(opens > 50 && delegations > 5, $"seed {seed}: too little happened ({opens} opens, {delegations} delegations)");
        Assert.True(lines.Length > 20, $"seed {seed}: only {lines.Length} token changes");
        Assert.Null(HistoryChecker.FirstConflict(lines));
    }

    [Fact]
    public void TheCheckerFindsAForgedOverlap()
    {
        string[] forged =
        [
            "100 a 1 0 15",   // a takes everything on file 1
            "200 a 1 15 3",   // gives the delegation rights back
            "300 b 1 0 1",    // b reads: fine next to a's R|W
            "350 b 2 0 15",   // another file
            "400 b 1 1 5",    // b takes DR while a still has W: conflict
        ];
        Assert.Equal("400 b 1 1 5 conflicts with a holding Open", HistoryChecker.FirstConflict(forged));
        Assert.Null(HistoryChecker.FirstConflict(forged[..4]));
    }
}

/// <summary>Replays a token history (lines of <c>ts node file before after</c>) and reports the first moment two nodes held conflicting rights on one file.</summary>
internal static class HistoryChecker
{
    public static string? FirstConflict(IEnumerable<string> lines)
    {
        var held = new Dictionary<(string File, string Node), TokenRights>();
        foreach (var line in lines.Select(l => l.Split(' ')).OrderBy(p => long.Parse(p[0], CultureInfo.InvariantCulture)))
        {
            string node = line[1], file = line[2];
            var after = (TokenRights)byte.Parse(line[4], CultureInfo.InvariantCulture);
            held[(file, node)] = after;
            foreach (var ((otherFile, other), rights) in held)
            {
                if (otherFile == file && other != node && TokenRules.Conflict(after, rights))
                    return $"{string.Join(' ', line)} conflicts with {other} holding {rights}";
            }
        }
        return null;
    }
}
