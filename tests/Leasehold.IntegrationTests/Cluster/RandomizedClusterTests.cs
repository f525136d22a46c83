using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using Leasehold.Cluster.Tests.Etcd;
using Leasehold.IntegrationTests.Cluster.History;
using Leasehold.Nfs4.Client;
using Leasehold.Nfs4.Client.Callbacks;
using Xunit.Abstractions;

namespace Leasehold.IntegrationTests.Cluster;

/// <summary>
/// Issue 11's randomized test: clients on every node open, write, read, take delegations on and close a few shared
/// files at random while node processes and etcd members are SIGKILLed and started again. Afterwards
/// <see cref="ClusterHistory"/> checks, from the nodes' token logs (Cluster:HistoryFile) and the clients' own record of
/// their delegations and writes, that no two conflicting rights or delegations were ever active at once on different
/// nodes and that no acknowledged write was lost. Bounded: <see cref="Run"/> of traffic, then a bounded wind-down.
/// </summary>
public sealed class RandomizedClusterTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Run = TimeSpan.FromSeconds(75);
    private const int Files = 6;
    private const int ClientsPerNode = 2;
    private const int Region = 4096;

    private readonly HistoryCluster _cluster = new();
    private readonly ClusterHistory _history = new();
    private readonly ConcurrentDictionary<string, (int Incarnation, long Death)> _deaths = new();
    private readonly ConcurrentDictionary<string, int> _incarnation = new();
    private readonly ConcurrentBag<string> _stale = [];
    private readonly Dictionary<string, ulong> _fileIds = [];
    private int _granted, _recalled, _acked, _killedNodes, _killedMembers;

    private sealed class HistoryCluster : ClusterFixture
    {
        public string HistoryPath(string node) => Path.Join(Root, $"history-{node}.log");

        protected internal override void Configure(string node, IDictionary<string, string> settings) =>
            settings["Cluster:HistoryFile"] = HistoryPath(node);
    }

    public Task InitializeAsync() => _cluster.InitializeAsync();

    public Task DisposeAsync() => _cluster.DisposeAsync();

    [EtcdFact]
    public async Task Random_traffic_under_node_and_member_kills_never_overlaps_conflicting_grants_or_loses_acknowledged_writes()
    {
        var nodes = _cluster.Nodes;
        foreach (var node in nodes)
            _incarnation[node.Name] = 0;
        string[] names = [.. Enumerable.Range(0, Files).Select(i => $"shared-{i}")];
        await using (var maker = await nodes[0].ConnectPlainAsync())
        {
            var root = (await maker.LookupPathAsync("").Bounded()).ValueOrThrow();
            foreach (string name in names)
            {
                var made = (await maker.CreateAsync(root, name).Bounded()).ValueOrThrow();
                (await maker.CloseAsync(made.FileHandle, made.StateId).Bounded()).ValueOrThrow();
                _fileIds[name] = (await maker.GetAttrAsync(made.FileHandle, AttrBitmap.Of(FileAttr.FileId)).Bounded()).ValueOrThrow().FileId!.Value;
            }
        }

        using var stop = new CancellationTokenSource(Run);
        var clients = new List<Task>();
        int index = 0;
        foreach (var node in nodes)
        {
            for (int c = 0; c < ClientsPerNode; c++)
                clients.Add(ClientLoopAsync(node, index++, names, new Random(1000 + index), stop.Token));
        }
        var chaos = ChaosAsync(new Random(7), stop.Token);
        await Task.WhenAll([.. clients, chaos]).WaitAsync(Run + TimeSpan.FromMinutes(2));

        // Every node and member up again, then stop the nodes cleanly so each log is complete.
        var end = Stopwatch.GetTimestamp();
        foreach (var node in nodes)
        {
            if (node.Pid is not null)
                await node.StopAsync();
            _history.NodeEnds.Add(new NodeEnd(node.Name, Stopwatch.GetTimestamp()));
        }
        foreach (var node in nodes)
        {
            if (File.Exists(_cluster.HistoryPath(node.Name)))
                _history.AddTokenLog(_cluster.HistoryPath(node.Name));
        }
        foreach (var (node, death) in _deaths)
            _history.NodeEnds.Add(new NodeEnd(node, death.Death));

        var problems = _history.Check(region => VersionOnDisk(region.File, region.Region));
        problems.AddRange(_stale);
        output.WriteLine($"{_history.Tokens.Count} token changes, {_history.Delegations.Count} delegations ({_granted} granted, {_recalled} recalled), " +
            $"{_acked} acknowledged writes, {_killedNodes} node kills, {_killedMembers} etcd member kills");
        foreach (string p in problems.Take(20))
            output.WriteLine(p);
        Assert.Empty(problems);
        // The run must have exercised what it checks.
        Assert.True(_granted >= 5, $"only {_granted} delegations were granted");
        Assert.True(_recalled >= 2, $"only {_recalled} delegations were recalled");
        Assert.True(_acked >= 50, $"only {_acked} writes were acknowledged");
        Assert.True(_history.Tokens.Select(t => t.Node).Distinct().Count() == nodes.Count, "not every node logged a token change");
        Assert.True(_killedNodes >= 1 && _killedMembers >= 1, $"{_killedNodes} node kills and {_killedMembers} member kills");
    }

    // ================================================================ the chaos

    private async Task ChaosAsync(Random random, CancellationToken stop)
    {
        var nodes = _cluster.Nodes;
        bool nodeTurn = true;
        try
        {
            while (!stop.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromSeconds(5 + random.NextDouble() * 4), stop);
                if (nodeTurn)
                {
                    var node = nodes[random.Next(nodes.Count)];
                    _incarnation.AddOrUpdate(node.Name, 1, (_, i) => i + 1);
                    await node.KillAsync();
                    _deaths[node.Name] = (_incarnation[node.Name], Stopwatch.GetTimestamp());
                    _history.NodeEnds.Add(new NodeEnd(node.Name, Stopwatch.GetTimestamp()));
                    _killedNodes++;
                    await Task.Delay(TimeSpan.FromSeconds(1 + random.NextDouble() * 2), CancellationToken.None);
                    await node.StartAsync();
                }
                else
                {
                    int member = random.Next(_cluster.Etcd.Count);
                    _cluster.Etcd.Kill(member);
                    _killedMembers++;
                    await Task.Delay(TimeSpan.FromSeconds(1 + random.NextDouble() * 2), CancellationToken.None);
                    await _cluster.Etcd.RestartAsync(member);
                }
                nodeTurn = !nodeTurn;
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    // ================================================================ one client

    private sealed class Held
    {
        public StateId Open;
        public ShareAccess Access;
        public StateId? Delegation;
        public bool WriteDelegation;
        public long DelegationSince;
    }

    private async Task ClientLoopAsync(ClusterNode node, int me, string[] names, Random random, CancellationToken stop)
    {
        string name = $"{node.Name}/c{me}";
        while (!stop.IsCancellationRequested)
        {
            int incarnation = _incarnation[node.Name];
            Nfs4Session? session = null;
            var held = new Dictionary<string, Held>();
            var gate = new Lock();
            try
            {
                var handler = new RecordingCallbackHandler();
                session = await node.ConnectAsync(options: new Nfs4SessionOptions { CallbackHandler = handler, RenewLease = true }).WaitAsync(TimeSpan.FromSeconds(20), stop);
                var root = (await session.LookupPathAsync("", CancellationToken.None).Bounded()).ValueOrThrow();
                var handles = new Dictionary<string, FileHandle>();
                var s = session;
                handler.RecallAnswer = (recall, ct) =>
                {
                    _ = ReturnRecalledAsync(s, recall, held, gate, name, node.Name);
                    return ValueTask.FromResult(NfsStat4.Ok);
                };
                while (!stop.IsCancellationRequested && _incarnation[node.Name] == incarnation)
                {
                    string file = names[random.Next(names.Length)];
                    Held? h;
                    lock (gate)
                        h = held.GetValueOrDefault(file);
                    switch (random.Next(6))
                    {
                        case 0 or 1 when h is null:
                            await OpenAsync(session, root, file, random, held, gate, handles, name, node.Name);
                            break;
                        case 0 or 1 or 2 when h is not null && (h.Access & ShareAccess.Write) != 0:
                            await WriteAsync(session, handles[file], h, file, me);
                            break;
                        case 3 when h is not null && (h.Access & ShareAccess.Read) != 0:
                            await ReadAsync(session, handles[file], h, file, me);
                            break;
                        case 4 when h is not null:
                            await ReturnAsync(session, handles[file], file, held, gate, name, node.Name);
                            break;
                        case 5 when h is not null:
                            (await session.CloseAsync(handles[file], h.Open, CancellationToken.None).Bounded()).ValueOrThrow();
                            await ReturnAsync(session, handles[file], file, held, gate, name, node.Name);
                            lock (gate)
                                held.Remove(file);
                            break;
                    }
                    await Task.Delay(random.Next(5, 40), stop);
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
            }
            catch (Exception e) when (e is not OperationCanceledException || !stop.IsCancellationRequested)
            {
                // The node died (or a call timed out around its death): wait for it to come back and start over.
                if (_incarnation[node.Name] == incarnation)
                    await Task.Delay(200, CancellationToken.None);
            }
            finally
            {
                EndDelegations(held, gate, name, node.Name, incarnation);
                if (session is not null)
                {
                    try
                    {
                        await session.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None);
                    }
                    catch (Exception)
                    {
                        // a dead node's connection
                    }
                }
            }
            while (!stop.IsCancellationRequested && node.Pid is null)
                await Task.Delay(100, CancellationToken.None);
        }
    }

    private async Task OpenAsync(Nfs4Session session, FileHandle root, string file, Random random, Dictionary<string, Held> held, Lock gate,
        Dictionary<string, FileHandle> handles, string client, string node)
    {
        var access = random.Next(3) switch { 0 => ShareAccess.Read, 1 => ShareAccess.Write, _ => ShareAccess.Both };
        var opened = await session.OpenAsync(root, file, access).Bounded();
        long at = Stopwatch.GetTimestamp();
        if (opened.Status != NfsStat4.Ok)
            return; // DELAY while another node's delegation is recalled, GRACE after a restart
        var o = opened.Value!;
        handles[file] = o.FileHandle;
        var h = new Held { Open = o.StateId, Access = access };
        if (o.Delegation.Type is DelegationType.Read or DelegationType.Write)
        {
            h.Delegation = o.Delegation.StateId;
            h.WriteDelegation = o.Delegation.Type == DelegationType.Write;
            h.DelegationSince = at;
            Interlocked.Increment(ref _granted);
        }
        lock (gate)
            held[file] = h;
    }

    private async Task WriteAsync(Nfs4Session session, FileHandle fh, Held h, string file, int me)
    {
        var key = (file, me);
        int version;
        lock (_history)
        {
            version = _history.AttemptedVersions.GetValueOrDefault(key) + 1;
            _history.AttemptedVersions[key] = version;
        }
        var data = new byte[Region];
        for (int i = 0; i < Region; i += 4)
            BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(i), version);
        var wrote = await session.WriteAsync(fh, h.Open, (ulong)(me * Region), data, StableHow.FileSync).Bounded();
        if (wrote.Status == NfsStat4.Ok && wrote.Value!.Count == Region)
        {
            lock (_history)
                _history.AcknowledgedVersions[key] = version;
            Interlocked.Increment(ref _acked);
        }
    }

    private async Task ReadAsync(Nfs4Session session, FileHandle fh, Held h, string file, int me)
    {
        int acked;
        lock (_history)
            acked = _history.AcknowledgedVersions.GetValueOrDefault((file, me));
        var read = await session.ReadAsync(fh, h.Open, (ulong)(me * Region), Region).Bounded();
        if (read.Status != NfsStat4.Ok)
            return;
        int found = read.Value!.Data.Length < 4 ? 0 : BinaryPrimitives.ReadInt32LittleEndian(read.Value.Data.Span);
        if (found < acked)
            _stale.Add($"stale read: {file} region {me} read version {found} after version {acked} was acknowledged");
    }

    /// <summary>Returns the file's delegation, if held: the client's interval ends as the DELEGRETURN goes out.</summary>
    private async Task ReturnAsync(Nfs4Session session, FileHandle fh, string file, Dictionary<string, Held> held, Lock gate, string client, string node)
    {
        StateId? delegation;
        Held? h;
        lock (gate)
        {
            h = held.GetValueOrDefault(file);
            delegation = h?.Delegation;
            if (h is not null && delegation is not null)
            {
                _history.Delegations.Add(new ClientDelegation(node, client, FileId(file), h.WriteDelegation, h.DelegationSince, Stopwatch.GetTimestamp()));
                h.Delegation = null;
            }
        }
        if (delegation is { } d)
            await session.DelegReturnAsync(fh, d).Bounded();
    }

    private async Task ReturnRecalledAsync(Nfs4Session session, CbRecallEvent recall, Dictionary<string, Held> held, Lock gate, string client, string node)
    {
        Interlocked.Increment(ref _recalled);
        string? file = null;
        lock (gate)
        {
            foreach (var (name, h) in held)
            {
                if (h.Delegation is { } d && d.Other == recall.StateId.Other)
                    file = name;
            }
        }
        try
        {
            if (file is not null)
                await ReturnAsync(session, recall.FileHandle, file, held, gate, client, node);
        }
        catch (Exception)
        {
            // the node died meanwhile: EndDelegations closes the interval at its death
        }
    }

    /// <summary>The session is over: delegations still held end at the node's death (or now, if it did not die).</summary>
    private void EndDelegations(Dictionary<string, Held> held, Lock gate, string client, string node, int incarnation)
    {
        long end = _deaths.TryGetValue(node, out var death) && death.Incarnation == incarnation + 1 ? death.Death : Stopwatch.GetTimestamp();
        lock (gate)
        {
            foreach (var (file, h) in held)
            {
                if (h.Delegation is not null)
                {
                    lock (_history)
                        _history.Delegations.Add(new ClientDelegation(node, client, FileId(file), h.WriteDelegation, h.DelegationSince, Math.Max(end, h.DelegationSince)));
                    h.Delegation = null;
                }
            }
        }
    }

    /// <summary>The file's engine key on every node: its fileid (inode number), as the token log prints it.</summary>
    private ulong FileId(string name) => _fileIds[name];

    private int VersionOnDisk(string file, int region)
    {
        var bytes = File.ReadAllBytes(Path.Join(_cluster.ExportPath, file));
        if (bytes.Length < (region + 1) * Region)
            return bytes.Length <= region * Region ? 0 : throw new InvalidOperationException($"{file} region {region} is cut short: {bytes.Length} bytes");
        var span = bytes.AsSpan(region * Region, Region);
        int version = BinaryPrimitives.ReadInt32LittleEndian(span);
        for (int i = 4; i < Region; i += 4)
        {
            if (BinaryPrimitives.ReadInt32LittleEndian(span[i..]) != version)
                _stale.Add($"torn region: {file} region {region} mixes versions {version} and {BinaryPrimitives.ReadInt32LittleEndian(span[i..])}");
        }
        return version;
    }
}
