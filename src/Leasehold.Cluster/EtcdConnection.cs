using dotnet_etcd;
using Etcdserverpb;
using Grpc.Core;
using Grpc.Net.Client;

namespace Leasehold.Cluster;

/// <summary>
/// The node's connections to the etcd members: one gRPC channel per endpoint and a current one. A call that fails
/// because its member is gone (unavailable, or no answer within the call timeout) moves to the next member and is
/// tried again, at most twice round the list. Every call carries a deadline; nothing here waits without bound.
/// The writes the cluster makes are compare-and-swap or idempotent, so a retried call that had succeeded is harmless.
/// </summary>
internal sealed class EtcdConnection : IDisposable
{
    private readonly GrpcChannel[] _channels;
    private readonly CallInvoker[] _invokers;
    private readonly EtcdClient[] _clients;
    private readonly TimeSpan _callTimeout;
    private int _current;

    public EtcdConnection(IReadOnlyList<Uri> endpoints, TimeSpan callTimeout)
    {
        _callTimeout = callTimeout;
        Endpoints = endpoints;
        _channels = new GrpcChannel[endpoints.Count];
        _invokers = new CallInvoker[endpoints.Count];
        _clients = new EtcdClient[endpoints.Count];
        for (int i = 0; i < endpoints.Count; i++)
        {
            _channels[i] = GrpcChannel.ForAddress(endpoints[i], new GrpcChannelOptions
            {
                HttpHandler = new SocketsHttpHandler
                {
                    ConnectTimeout = callTimeout,
                    EnableMultipleHttp2Connections = true,
                    KeepAlivePingDelay = TimeSpan.FromSeconds(5),
                    KeepAlivePingTimeout = TimeSpan.FromSeconds(5),
                },
            });
            _invokers[i] = _channels[i].CreateCallInvoker();
            _clients[i] = new EtcdClient(_invokers[i]);
        }
    }

    /// <summary>Test hook: members reached through the given invokers (fakes) instead of channels.</summary>
    internal EtcdConnection(CallInvoker[] invokers, TimeSpan callTimeout)
    {
        _callTimeout = callTimeout;
        Endpoints = [.. invokers.Select((_, i) => new Uri($"http://fake-{i}:2379"))];
        _channels = [];
        _invokers = invokers;
        _clients = [.. invokers.Select(i => new EtcdClient(i))];
    }

    public IReadOnlyList<Uri> Endpoints { get; }

    /// <summary>
    /// Metadata for the long-lived streams (watches, keepalives): etcd's "require leader" flag, so a member that has lost
    /// its leader (cut off from the majority) ends the stream instead of keeping it silently open; the node then moves on.
    /// </summary>
    public static Metadata RequireLeader { get; } = new() { { "hasleader", "true" } };

    /// <summary>The member calls go to now.</summary>
    public int Current => Volatile.Read(ref _current);

    public CallInvoker Invoker(int member) => _invokers[member];

    /// <summary>Moves to the next member if <paramref name="failed"/> is still the current one.</summary>
    public void Failed(int failed) => Interlocked.CompareExchange(ref _current, (failed + 1) % _invokers.Length, failed);

    public Task<RangeResponse> GetAsync(RangeRequest request, CancellationToken ct) =>
        CallAsync((c, d, t) => c.GetAsync(request, null, d, t), ct);

    public Task<TxnResponse> TxnAsync(TxnRequest request, CancellationToken ct) =>
        CallAsync((c, d, t) => c.TransactionAsync(request, null, d, t), ct);

    public Task<PutResponse> PutAsync(PutRequest request, CancellationToken ct) =>
        CallAsync((c, d, t) => c.PutAsync(request, null, d, t), ct);

    public Task<DeleteRangeResponse> DeleteAsync(DeleteRangeRequest request, CancellationToken ct) =>
        CallAsync((c, d, t) => c.DeleteAsync(request, null, d, t), ct);

    public Task<LeaseGrantResponse> LeaseGrantAsync(LeaseGrantRequest request, CancellationToken ct) =>
        CallAsync((c, d, t) => c.LeaseGrantAsync(request, null, d, t), ct);

    public Task<LeaseRevokeResponse> LeaseRevokeAsync(LeaseRevokeRequest request, CancellationToken ct) =>
        CallAsync((c, d, t) => c.LeaseRevokeAsync(request, null, d, t), ct);

    /// <summary>Whether <paramref name="e"/> says the member is gone or slow, rather than that the request is wrong.</summary>
    public static bool IsTransient(RpcException e) =>
        e.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.Unknown or StatusCode.Internal or StatusCode.Aborted;

    private async Task<T> CallAsync<T>(Func<EtcdClient, DateTime, CancellationToken, Task<T>> call, CancellationToken ct)
    {
        RpcException? last = null;
        for (int attempt = 0; attempt < 2 * _invokers.Length; attempt++)
        {
            int member = Current;
            try
            {
                return await call(_clients[member], DateTime.UtcNow + _callTimeout, ct).ConfigureAwait(false);
            }
            catch (RpcException e) when (IsTransient(e) && !ct.IsCancellationRequested)
            {
                last = e;
                Failed(member);
            }
        }
        throw new EtcdUnavailableException($"no etcd member answered ({string.Join(", ", Endpoints)}): {last?.Status.Detail}", last);
    }

    public void Dispose()
    {
        foreach (var client in _clients)
            client.Dispose();
        foreach (var channel in _channels)
            channel.Dispose();
    }
}

/// <summary>No etcd member answered a call within its retries.</summary>
internal sealed class EtcdUnavailableException(string message, Exception? inner) : Exception(message, inner);
