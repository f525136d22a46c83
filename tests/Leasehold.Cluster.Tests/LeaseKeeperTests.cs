using System.Threading.Channels;
using Etcdserverpb;
using Grpc.Core;
using Leasehold.Testing;

namespace Leasehold.Cluster.Tests;

/// <summary>
/// The keepalive loop on a manual clock against a scripted etcd: s is the send time of the last keepalive answered
/// alive, an answer later than the keepalive timeout never moves it, and a TTL of 0 ends the lease.
/// </summary>
public sealed class LeaseKeeperTests : IDisposable
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(8); // interval 2 s, timeout 1 s
    private readonly ManualTimeProvider _time = new();
    private readonly FakeKeepAlive _etcd = new();
    private readonly EtcdConnection _connection;
    private readonly CancellationTokenSource _stop = new();

    public LeaseKeeperTests() => _connection = new EtcdConnection([_etcd, _etcd], TimeSpan.FromSeconds(1));

    public void Dispose()
    {
        _stop.Cancel();
        _connection.Dispose();
        _stop.Dispose();
    }

    private LeaseKeeper Keeper(out Task running)
    {
        var keeper = new LeaseKeeper(_connection, _time, 42, Ttl, _time.GetTimestamp());
        running = Task.Run(() => keeper.RunAsync(_stop.Token));
        return keeper;
    }

    [Fact]
    public async Task EachAnsweredKeepaliveMovesSToItsSendTime()
    {
        var keeper = Keeper(out _);
        int answered = 0;
        keeper.Answered = _ => Interlocked.Increment(ref answered);

        var first = await _etcd.NextAsync();
        Assert.Equal(42, first.Request.ID);
        long sent = _time.GetTimestamp();
        _time.Advance(TimeSpan.FromMilliseconds(300)); // the answer takes 300 ms
        first.Answer(ttl: 8);
        await Eventually.TrueAsync(() => Volatile.Read(ref answered) == 1, TimeSpan.FromSeconds(5), "the first answer");
        Assert.Equal(sent, keeper.AnsweredSend); // the send time, not the receive time

        await Eventually.TrueAsync(() => _time.ActiveTimers == 1, TimeSpan.FromSeconds(5), "the keeper sleeps until the next keepalive");
        _time.Advance(TimeSpan.FromMilliseconds(1700)); // the next one is due 2 s after the first was sent
        var second = await _etcd.NextAsync();
        Assert.Same(first.Stream, second.Stream); // one stream while it works
        long sentAgain = _time.GetTimestamp();
        second.Answer(ttl: 8);
        await Eventually.TrueAsync(() => Volatile.Read(ref answered) == 2, TimeSpan.FromSeconds(5), "the second answer");
        Assert.Equal(sentAgain, keeper.AnsweredSend);
        Assert.Equal(TimeSpan.FromSeconds(2), _time.GetElapsedTime(sent, sentAgain));
    }

    [Fact]
    public async Task AnAnswerLaterThanTheTimeoutDoesNotMoveS()
    {
        var keeper = Keeper(out _);
        long s0 = keeper.AnsweredSend;
        var first = await _etcd.NextAsync();
        _time.Advance(TimeSpan.FromSeconds(1)); // the timeout: the stream is torn down
        await Eventually.TrueAsync(() => first.Stream.Disposed, TimeSpan.FromSeconds(5), "the late stream is dropped");
        first.Answer(ttl: 8); // arrives now, too late

        await Eventually.TrueAsync(() => _time.ActiveTimers == 1, TimeSpan.FromSeconds(5), "the keeper sleeps until the retry");
        _time.Advance(TimeSpan.FromMilliseconds(100)); // the retry, on a new stream (the next member)
        var retry = await _etcd.NextAsync();
        Assert.NotSame(first.Stream, retry.Stream);
        Assert.Equal(1, _connection.Current);
        Assert.Equal(s0, keeper.AnsweredSend);
        long sent = _time.GetTimestamp();
        retry.Answer(ttl: 8);
        await Eventually.TrueAsync(() => keeper.AnsweredSend == sent, TimeSpan.FromSeconds(5), "the retry's answer counts");
    }

    [Fact]
    public async Task ATtlOfZeroEndsTheLeaseAndTheLoop()
    {
        var keeper = Keeper(out var running);
        int lost = 0;
        keeper.Lost = _ => Interlocked.Increment(ref lost);
        long s0 = keeper.AnsweredSend;
        (await _etcd.NextAsync()).Answer(ttl: 0);
        await running.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(1, lost);
        Assert.Equal(s0, keeper.AnsweredSend);
    }

    /// <summary>A scripted etcd that only speaks LeaseKeepAlive: each request waits for the test to answer it.</summary>
    private sealed class FakeKeepAlive : CallInvoker
    {
        private readonly Channel<Pending> _requests = Channel.CreateUnbounded<Pending>();

        public async Task<Pending> NextAsync() => await _requests.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(5));

        public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options)
        {
            var stream = new Stream(this);
            return new AsyncDuplexStreamingCall<TRequest, TResponse>(
                (IClientStreamWriter<TRequest>)(object)stream, (IAsyncStreamReader<TResponse>)(object)stream,
                Task.FromResult(new Metadata()), () => Status.DefaultSuccess, () => [], stream.Dispose);
        }

        public override TResponse BlockingUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request) => throw new NotSupportedException();

        public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request) => throw new NotSupportedException();

        public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request) => throw new NotSupportedException();

        public override AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options) => throw new NotSupportedException();

        public sealed record Pending(LeaseKeepAliveRequest Request, Stream Stream)
        {
            public void Answer(long ttl) => Stream.Responses.Writer.TryWrite(new LeaseKeepAliveResponse { ID = Request.ID, TTL = ttl });
        }

        public sealed class Stream(FakeKeepAlive etcd) : IClientStreamWriter<LeaseKeepAliveRequest>, IAsyncStreamReader<LeaseKeepAliveResponse>
        {
            public Channel<LeaseKeepAliveResponse> Responses { get; } = Channel.CreateUnbounded<LeaseKeepAliveResponse>();

            public bool Disposed { get; private set; }

            public WriteOptions? WriteOptions { get; set; }

            public LeaseKeepAliveResponse Current { get; private set; } = new();

            public Task WriteAsync(LeaseKeepAliveRequest message) => WriteAsync(message, default);

            public Task WriteAsync(LeaseKeepAliveRequest message, CancellationToken cancellationToken)
            {
                etcd._requests.Writer.TryWrite(new Pending(message, this));
                return Task.CompletedTask;
            }

            public Task CompleteAsync() => Task.CompletedTask;

            public async Task<bool> MoveNext(CancellationToken cancellationToken)
            {
                Current = await Responses.Reader.ReadAsync(cancellationToken);
                return true;
            }

            public void Dispose() => Disposed = true;
        }
    }
}
