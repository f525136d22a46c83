using System.Collections.Concurrent;
using Etcdserverpb;
using Google.Protobuf;
using Leasehold.Cluster.Tests.Etcd;
using Microsoft.Extensions.Logging.Abstractions;

namespace Leasehold.Cluster.Tests;

/// <summary>The prefix watch against real etcd: a killed member and a compaction lose no event and deliver none twice.</summary>
[Collection(EtcdCollection.Name)]
public sealed class ClusterWatchTests : IAsyncLifetime
{
    private readonly EtcdClusterFixture _etcd = new();
    private EtcdConnection? _connection;
    private readonly CancellationTokenSource _stop = new();

    private EtcdConnection Connection => _connection!;

    public async Task InitializeAsync()
    {
        if (EtcdClusterFixture.Unavailable is not null)
            return;
        await _etcd.StartAsync();
        _connection = new EtcdConnection([.. _etcd.Endpoints.Select(e => new Uri(e))], TimeSpan.FromSeconds(1));
    }

    public async Task DisposeAsync()
    {
        await _stop.CancelAsync();
        _connection?.Dispose();
        await _etcd.DisposeAsync();
        _stop.Dispose();
    }

    private async Task<long> PutAsync(string key) =>
        (await Connection.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8(key), Value = ByteString.CopyFromUtf8("v") }, default)).Header.Revision;

    [EtcdFact]
    public async Task KillingTheWatchedMemberLosesNoEventAndRepeatsNone()
    {
        var seen = new ConcurrentQueue<string>();
        var watch = new ClusterWatch(Connection, ByteString.CopyFromUtf8("/w/"),
            async ct => (await Connection.GetAsync(new RangeRequest { Key = ByteString.CopyFromUtf8("/w/"), CountOnly = true }, ct)).Header.Revision,
            e => seen.Enqueue(e.Kv.Key.ToStringUtf8()), NullLogger.Instance);
        var running = watch.RunAsync(_stop.Token);
        await Eventually.TrueAsync(() => watch.Delivered > 0, TimeSpan.FromSeconds(5), "the watch has read its start revision");

        for (int i = 0; i < 10; i++)
            await PutAsync($"/w/{i:d2}");
        await Eventually.TrueAsync(() => seen.Count == 10, TimeSpan.FromSeconds(5), "the first ten events");
        _etcd.Kill(Connection.Current);
        for (int i = 10; i < 20; i++)
            await PutAsync($"/w/{i:d2}"); // these go to another member while the watch moves there
        await Eventually.TrueAsync(() => seen.Count >= 20, TimeSpan.FromSeconds(10), "the ten events after the kill");
        await Task.Delay(200);

        Assert.Equal(Enumerable.Range(0, 20).Select(i => $"/w/{i:d2}"), seen);
        await _stop.CancelAsync();
        await running;
    }

    [EtcdFact]
    public async Task AWatchFromACompactedRevisionReReadsAndGoesOn()
    {
        for (int i = 0; i < 5; i++)
            await PutAsync($"/c/{i}");
        long compacted = await PutAsync("/c/last");
        await new KV.KVClient(Connection.Invoker(Connection.Current)).CompactAsync(new CompactionRequest { Revision = compacted, Physical = true });

        int resyncs = 0;
        var seen = new ConcurrentQueue<string>();
        var watch = new ClusterWatch(Connection, ByteString.CopyFromUtf8("/c/"),
            async ct =>
            {
                if (Interlocked.Increment(ref resyncs) == 1)
                    return 1; // a revision etcd has compacted away
                return (await Connection.GetAsync(new RangeRequest { Key = ByteString.CopyFromUtf8("/c/"), CountOnly = true }, ct)).Header.Revision;
            },
            e => seen.Enqueue(e.Kv.Key.ToStringUtf8()), NullLogger.Instance);
        var running = watch.RunAsync(_stop.Token);
        await Eventually.TrueAsync(() => Volatile.Read(ref resyncs) == 2, TimeSpan.FromSeconds(5), "the compaction makes the watch read again");
        await Eventually.TrueAsync(() => watch.Delivered >= compacted, TimeSpan.FromSeconds(5), "the watch restarts after the re-read");
        await PutAsync("/c/after");
        await Eventually.TrueAsync(() => seen.Contains("/c/after"), TimeSpan.FromSeconds(5), "an event after the re-read");
        Assert.Equal(["/c/after"], seen);
        await _stop.CancelAsync();
        await running;
    }
}
