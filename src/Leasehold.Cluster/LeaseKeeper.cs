using Etcdserverpb;
using Grpc.Core;

namespace Leasehold.Cluster;

/// <summary>
/// One etcd lease and the loop that keeps it alive: every TTL/4 it sends one keepalive on a stream and waits TTL/8 (at
/// least 0.5 s) for the answer. It records s, the send time of the last keepalive answered with the lease alive (never the receive
/// time: etcd counted the TTL from some moment after the send). A keepalive not answered in time tears the stream down,
/// so a late answer can never move s, and the next one goes to the next etcd member.
/// </summary>
internal sealed class LeaseKeeper
{
    private readonly EtcdConnection _connection;
    private readonly TimeProvider _time;
    private long _answeredSend;

    internal LeaseKeeper(EtcdConnection connection, TimeProvider time, long id, TimeSpan ttl, long sent)
    {
        _connection = connection;
        _time = time;
        Id = id;
        Ttl = ttl;
        _answeredSend = sent;
    }

    /// <summary>The etcd lease id.</summary>
    public long Id { get; }

    /// <summary>The TTL etcd granted (it raises a TTL below its minimum).</summary>
    public TimeSpan Ttl { get; }

    /// <summary>s: the <see cref="TimeProvider.GetTimestamp"/> at which the last keepalive answered alive was sent (or the grant request, at first).</summary>
    public long AnsweredSend => Interlocked.Read(ref _answeredSend);

    private readonly TaskCompletionSource _firstAnswer = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when the first keepalive is answered with the lease alive (the join waits for it: a cold stream is slow).</summary>
    public Task FirstAnswer => _firstAnswer.Task;

    /// <summary>Called after each keepalive answered with the lease alive (s has moved).</summary>
    public Action<LeaseKeeper>? Answered { get; set; }

    /// <summary>Called when a keepalive did not count (the member gone or slow, the stream broken), with the member's index and why.</summary>
    public Action<LeaseKeeper, int, string>? Failed { get; set; }

    /// <summary>Called once when etcd says the lease no longer exists; the loop then ends.</summary>
    public Action<LeaseKeeper>? Lost { get; set; }

    public static async Task<LeaseKeeper> GrantAsync(EtcdConnection connection, TimeProvider time, TimeSpan ttl, CancellationToken ct)
    {
        long sent = time.GetTimestamp();
        var granted = await connection.LeaseGrantAsync(new LeaseGrantRequest { TTL = (long)ttl.TotalSeconds }, ct).ConfigureAwait(false);
        if (!string.IsNullOrEmpty(granted.Error))
            throw new EtcdUnavailableException($"etcd refused a lease: {granted.Error}", null);
        return new LeaseKeeper(connection, time, granted.ID, TimeSpan.FromSeconds(granted.TTL), sent);
    }

    /// <summary>Keeps the lease alive until <paramref name="ct"/> fires or the lease is gone.</summary>
    public async Task RunAsync(CancellationToken ct)
    {
        var interval = Ttl / 4;
        // TTL/8, but at least half a second (or the interval) on short test TTLs: a new HTTP/2 stream on a busy machine
        // can take that long. The timeout is for liveness only; safety rests on s being a send time.
        var timeout = TimeSpan.FromTicks(Math.Max((Ttl / 8).Ticks, Math.Min(interval.Ticks, TimeSpan.FromMilliseconds(500).Ticks)));
        AsyncDuplexStreamingCall<LeaseKeepAliveRequest, LeaseKeepAliveResponse>? stream = null;
        int member = -1;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                long sent = _time.GetTimestamp();
                long ttl = long.MinValue;
                string failure = "the stream ended";
                try
                {
                    if (stream is null)
                    {
                        member = _connection.Current;
                        stream = new Lease.LeaseClient(_connection.Invoker(member)).LeaseKeepAlive(EtcdConnection.RequireLeader, cancellationToken: ct);
                    }
                    using var late = new CancellationTokenSource(timeout, _time);
                    using var answer = CancellationTokenSource.CreateLinkedTokenSource(ct, late.Token);
                    await stream.RequestStream.WriteAsync(new LeaseKeepAliveRequest { ID = Id }, answer.Token).ConfigureAwait(false);
                    if (await stream.ResponseStream.MoveNext(answer.Token).ConfigureAwait(false))
                        ttl = stream.ResponseStream.Current.TTL;
                }
                catch (Exception e) when (!ct.IsCancellationRequested)
                {
                    failure = e is OperationCanceledException ? $"no answer within {timeout.TotalMilliseconds:F0} ms" : e.Message;
                    // Whatever went wrong (the member gone, the stream broken, no answer in time), this keepalive did not
                    // count: the next one goes on a new stream to the next member.
                }
                if (ttl == long.MinValue)
                {
                    stream?.Dispose();
                    stream = null;
                    _connection.Failed(member);
                    Failed?.Invoke(this, member, failure);
                }
                else if (ttl <= 0)
                {
                    Lost?.Invoke(this);
                    return;
                }
                else
                {
                    Interlocked.Exchange(ref _answeredSend, sent);
                    _firstAnswer.TrySetResult();
                    Answered?.Invoke(this);
                }
                var next = ttl > 0 ? interval - _time.GetElapsedTime(sent) : TimeSpan.FromTicks(Math.Min(interval.Ticks, TimeSpan.FromMilliseconds(100).Ticks));
                if (next > TimeSpan.Zero)
                    await Task.Delay(next, _time, ct).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (ct.IsCancellationRequested && e is OperationCanceledException or RpcException)
        {
        }
        finally
        {
            stream?.Dispose();
        }
    }
}
