using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Leasehold.Cluster;

/// <summary>
/// A watch on every key under one prefix that survives losing its etcd member: it remembers the revision of the last
/// event it delivered and, when the stream fails or is canceled, opens a new one on the next member from that
/// revision + 1, so no event is lost or delivered twice. When etcd has compacted past that revision (the answer
/// carries a compact revision), the events are gone: <c>resync</c> re-reads the prefix and the watch starts again
/// after the revision it read at.
/// </summary>
internal sealed class ClusterWatch(
    EtcdConnection connection,
    ByteString prefix,
    Func<CancellationToken, Task<long>> resync,
    Action<Mvccpb.Event> onEvent,
    ILogger logger)
{
    /// <summary>The revision the next event must be newer than.</summary>
    public long Delivered { get; private set; }

    /// <summary>Reads the prefix through <c>resync</c>, then delivers every later event until <paramref name="ct"/> fires.</summary>
    public async Task RunAsync(CancellationToken ct)
    {
        string name = prefix.ToStringUtf8();
        try
        {
            Delivered = await ResyncAsync(ct).ConfigureAwait(false);
            while (!ct.IsCancellationRequested)
            {
                int member = connection.Current;
                string reason;
                try
                {
                    reason = await WatchAsync(member, ct).ConfigureAwait(false);
                }
                catch (RpcException e) when (!ct.IsCancellationRequested)
                {
                    reason = $"{e.StatusCode}: {e.Status.Detail}";
                    connection.Failed(member);
                }
                catch (Exception e) when (!ct.IsCancellationRequested && e is IOException or InvalidOperationException or EtcdUnavailableException)
                {
                    reason = e.Message;
                    connection.Failed(member);
                }
                Log.WatchRestarted(logger, name, Delivered + 1, EtcdSession.OneLine(reason));
                await Task.Delay(TimeSpan.FromMilliseconds(100), ct).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (ct.IsCancellationRequested && e is OperationCanceledException or RpcException)
        {
        }
    }

    private async Task<long> ResyncAsync(CancellationToken ct)
    {
        while (true)
        {
            try
            {
                return await resync(ct).ConfigureAwait(false);
            }
            catch (EtcdUnavailableException) when (!ct.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200), ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>One watch stream; returns why it ended.</summary>
    private async Task<string> WatchAsync(int member, CancellationToken ct)
    {
        using var call = new Watch.WatchClient(connection.Invoker(member)).Watch(EtcdConnection.RequireLeader, cancellationToken: ct);
        await call.RequestStream.WriteAsync(new WatchRequest
        {
            CreateRequest = new WatchCreateRequest
            {
                Key = prefix,
                RangeEnd = ClusterKeys.RangeEnd(prefix),
                StartRevision = Delivered + 1,
                PrevKv = true,
            },
        }, ct).ConfigureAwait(false);
        while (await call.ResponseStream.MoveNext(ct).ConfigureAwait(false))
        {
            var answer = call.ResponseStream.Current;
            if (answer.CompactRevision > 0)
            {
                Delivered = await ResyncAsync(ct).ConfigureAwait(false);
                return $"compacted up to {answer.CompactRevision}; re-read at {Delivered}";
            }
            if (answer.Canceled)
            {
                connection.Failed(member);
                return $"canceled by etcd: {answer.CancelReason}";
            }
            long before = Delivered, newest = Delivered; // one txn's events share a revision
            foreach (var e in answer.Events)
            {
                if (e.Kv.ModRevision <= before)
                    continue;
                onEvent(e);
                newest = Math.Max(newest, e.Kv.ModRevision);
            }
            Delivered = newest;
        }
        connection.Failed(member);
        return "the stream ended";
    }
}
