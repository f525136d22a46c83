using Etcdserverpb;
using Google.Protobuf;
using Leasehold.Engine;
using Microsoft.Extensions.Logging;

namespace Leasehold.Cluster;

/// <summary>What the session tells the token side when the node's standing in the cluster changes.</summary>
internal interface ISessionListener
{
    /// <summary>Keep only <paramref name="keep"/> of every file's rights and break grants using the rest within <paramref name="maxBreakTime"/> (<see cref="LeaseEngine.FenceTokens"/>). Returns the grants broken.</summary>
    int Fence(TokenRights keep, TimeSpan maxBreakTime);

    /// <summary>New leases are in place: claim again the open rights local opens use. Returns the files claimed.</summary>
    Task<int> ReclaimAsync(CancellationToken ct);
}

/// <summary>
/// The node's membership: two etcd leases, each kept alive by a <see cref="LeaseKeeper"/> — the short one
/// (<see cref="ClusterOptions.LeaseTtl"/>) carries the node key and the tokens, the long one
/// (<see cref="ClusterOptions.OpenClaimTtl"/>) the open claims — and the fencing clock of <see cref="FenceClock"/>.
/// </summary>
/// <remarks>
/// State transitions happen under <c>_gate</c>, which is never held across an await or a listener call:
/// <list type="bullet">
/// <item>short keepalive answered: re-arm P; if fenced, unfence (6013);</item>
/// <item>P reached: fence delegations (keep R/W) with F - now to answer (6010); arm F, which only logs (6011);</item>
/// <item>long deadline reached: drop every right at once (6014);</item>
/// <item>a lease gone (keepalive answered TTL 0): drop what it carried at once, then rejoin with a new lease and
/// re-claim the open rights in use (6015, then 6012).</item>
/// </list>
/// </remarks>
internal sealed class EtcdSession : IAsyncDisposable
{
    private readonly ClusterOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private readonly ITimer _stopGrantingTimer;
    private readonly ITimer _revokedTimer;
    private readonly ITimer _openClaimsTimer;
    private readonly List<Task> _loops = [];
    private LeaseKeeper _short;
    private LeaseKeeper _long;
    private ISessionListener? _listener;
    private bool _shortFenced;
    private bool _longFenced;
    private bool _rejoining;
    private bool _shortLost;
    private long _lastAnsweredBeforeFence; // s when P fired
    private bool _longLost;
    private bool _disposed;

    private EtcdSession(ClusterOptions options, TimeProvider time, ILogger logger, EtcdConnection connection, ClusterKeys keys, LeaseKeeper shortLease, LeaseKeeper longLease)
    {
        _options = options;
        _time = time;
        _logger = logger;
        Connection = connection;
        Keys = keys;
        _short = shortLease;
        _long = longLease;
        _stopGrantingTimer = time.CreateTimer(_ => OnStopGrantingDue(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _revokedTimer = time.CreateTimer(_ => OnRevokedDue(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _openClaimsTimer = time.CreateTimer(_ => OnOpenClaimsDue(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    public EtcdConnection Connection { get; }

    public ClusterKeys Keys { get; }

    /// <summary>The short lease (node key, tokens, inbox requests).</summary>
    public long ShortLease => Volatile.Read(ref _short).Id;

    /// <summary>The long lease (open claims).</summary>
    public long LongLease => Volatile.Read(ref _long).Id;

    /// <summary>s for the short lease: when the last keepalive answered alive was sent (<see cref="TimeProvider.GetTimestamp"/>).</summary>
    public long ShortAnsweredSend => Volatile.Read(ref _short).AnsweredSend;

    /// <summary>The TTL etcd granted the short lease.</summary>
    public TimeSpan Ttl => Volatile.Read(ref _short).Ttl;

    /// <summary>Whether the node must not grant delegations or take rights beyond what its opens use: past P, a lease lost, or rejoining.</summary>
    public bool IsFenced
    {
        get
        {
            lock (_gate)
                return _shortFenced || _longFenced || _rejoining;
        }
    }

    /// <summary>
    /// Grants both leases and puts the node key if absent. Throws <see cref="ClusterJoinException"/> (one line) when no
    /// member answers within <see cref="ClusterOptions.ConnectTimeout"/> or another live node has the name.
    /// </summary>
    public static async Task<EtcdSession> OpenAsync(ClusterOptions options, TimeProvider time, ILogger logger, CancellationToken ct)
    {
        var callTimeout = TimeSpan.FromTicks(Math.Clamp(options.LeaseTtl.Ticks / 4, TimeSpan.FromMilliseconds(500).Ticks, TimeSpan.FromSeconds(2).Ticks));
        var connection = new EtcdConnection(options.EndpointUris, callTimeout);
        var keys = new ClusterKeys(options.NormalizedPrefix, options.Node);
        try
        {
            var shortLease = await GrantWithinAsync(connection, time, options.LeaseTtl, options.ConnectTimeout, ct).ConfigureAwait(false);
            var longLease = await GrantWithinAsync(connection, time, options.OpenClaimTtl, options.ConnectTimeout, ct).ConfigureAwait(false);
            if (await PutNodeKeyAsync(connection, keys, options.Incarnation, shortLease.Id, longLease.Id, logger, ct).ConfigureAwait(false) is { } holder)
            {
                await RevokeQuietlyAsync(connection, [shortLease.Id, longLease.Id]).ConfigureAwait(false);
                throw new ClusterJoinException($"node {options.Node} is already in the cluster ({holder}); if that process is gone, the name frees " +
                    $"within {(long)options.LeaseTtl.TotalSeconds} s (Cluster:LeaseTtl), or at once when it is restarted on its own state directory; otherwise choose another --node name");
            }
            Log.Joined(logger, options.Node, shortLease.Id, (long)shortLease.Ttl.TotalSeconds, (long)longLease.Ttl.TotalSeconds);
            var session = new EtcdSession(options, time, logger, connection, keys, shortLease, longLease);
            lock (session._gate)
            {
                session.StartKeeper(shortLease); // kept alive from the join on; the fencing clock starts with Start
                session.StartKeeper(longLease);
            }
            try
            {
                // One keepalive round trip each before the join completes: the first stream is the slow one.
                await Task.WhenAll(shortLease.FirstAnswer, longLease.FirstAnswer).WaitAsync(options.ConnectTimeout, time, ct).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                await session.DisposeAsync().ConfigureAwait(false);
                throw new ClusterJoinException($"cannot reach etcd at {string.Join(",", options.Etcd)}: keepalives unanswered for {options.ConnectTimeout.TotalSeconds:F0} s");
            }
            return session;
        }
        catch (Exception e) when (e is not ClusterJoinException and not OperationCanceledException)
        {
            connection.Dispose();
            throw new ClusterJoinException($"cannot reach etcd at {string.Join(",", options.Etcd)}: {OneLine(e.Message)}", e);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>Starts the fencing clock (the keepalives run from the join on); from now on <paramref name="listener"/> hears about fences and rejoins.</summary>
    public void Start(ISessionListener listener)
    {
        lock (_gate)
        {
            _listener = listener;
            ArmStopGranting();
            ArmOpenClaims();
        }
    }

    /// <summary>The current value of a key, or null (a linearizable read).</summary>
    public async Task<ByteString?> GetValueAsync(ByteString key, CancellationToken ct)
    {
        var got = await Connection.GetAsync(new RangeRequest { Key = key }, ct).ConfigureAwait(false);
        return got.Kvs.Count == 0 ? null : got.Kvs[0].Value;
    }

    /// <summary>Puts <paramref name="candidate"/> at <paramref name="key"/> (no lease) unless the key exists; returns the value it has afterwards.</summary>
    public async Task<ByteString> PutIfAbsentAsync(ByteString key, ByteString candidate, CancellationToken ct)
    {
        var txn = new TxnRequest
        {
            Compare = { new Compare { Key = key, Target = Compare.Types.CompareTarget.Create, Result = Compare.Types.CompareResult.Equal, CreateRevision = 0 } },
            Success = { new RequestOp { RequestPut = new PutRequest { Key = key, Value = candidate } } },
            Failure = { new RequestOp { RequestRange = new RangeRequest { Key = key } } },
        };
        var answer = await Connection.TxnAsync(txn, ct).ConfigureAwait(false);
        return answer.Succeeded ? candidate : answer.Responses[0].ResponseRange.Kvs[0].Value;
    }

    private static async Task<LeaseKeeper> GrantWithinAsync(EtcdConnection connection, TimeProvider time, TimeSpan ttl, TimeSpan within, CancellationToken ct)
    {
        long start = time.GetTimestamp();
        while (true)
        {
            try
            {
                return await LeaseKeeper.GrantAsync(connection, time, ttl, ct).ConfigureAwait(false);
            }
            catch (EtcdUnavailableException) when (time.GetElapsedTime(start) < within)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200), time, ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Puts the node key with <paramref name="lease"/> if it is absent (or already ours); else returns who holds it.</summary>
    private static async Task<string?> PutNodeKeyAsync(EtcdConnection connection, ClusterKeys keys, string? incarnation, long shortLease, long longLease,
        ILogger logger, CancellationToken ct)
    {
        for (int attempt = 0; ; attempt++)
        {
            string me = $"pid {Environment.ProcessId} on {Environment.MachineName}, since {DateTimeOffset.UtcNow:O}\nincarnation {incarnation}\nleases {shortLease:x} {longLease:x}";
            var txn = new TxnRequest
            {
                Compare = { new Compare { Key = keys.NodeKey, Target = Compare.Types.CompareTarget.Create, Result = Compare.Types.CompareResult.Equal, CreateRevision = 0 } },
                Success = { new RequestOp { RequestPut = new PutRequest { Key = keys.NodeKey, Value = ByteString.CopyFromUtf8(me), Lease = shortLease } } },
                Failure = { new RequestOp { RequestRange = new RangeRequest { Key = keys.NodeKey } } },
            };
            var answer = await connection.TxnAsync(txn, ct).ConfigureAwait(false);
            if (answer.Succeeded)
                return null;
            var existing = answer.Responses[0].ResponseRange.Kvs;
            if (existing.Count == 0)
                continue; // it expired between the compare and the read
            if (existing[0].Lease == shortLease)
                return null;
            var (holder, theirIncarnation, theirLeases) = ParseNodeValue(existing[0].Value.ToStringUtf8());
            if (attempt == 0 && incarnation is not null && theirIncarnation == incarnation)
            {
                // Our own previous incarnation: it held the state directory this process holds now, so it is dead. Its keys
                // (tokens, open claims, inbox asks) go with its leases at once; its clients' state died with it.
                long[] stale = [.. theirLeases.Append(existing[0].Lease).Where(l => l != 0 && l != shortLease && l != longLease).Distinct()];
                Log.PreviousIncarnationRevoked(logger, keys.Node, holder, stale.Length);
                await RevokeQuietlyAsync(connection, stale).ConfigureAwait(false);
                continue;
            }
            return holder;
        }
    }

    /// <summary>The node key's value: a line for people, then the incarnation and the leases (hex) the node held.</summary>
    internal static (string Holder, string? Incarnation, long[] Leases) ParseNodeValue(string value)
    {
        var lines = value.Split('\n');
        string? incarnation = null;
        long[] leases = [];
        foreach (string line in lines.Skip(1))
        {
            if (line.StartsWith("incarnation ", StringComparison.Ordinal))
                incarnation = line["incarnation ".Length..];
            else if (line.StartsWith("leases ", StringComparison.Ordinal))
                leases = [.. line["leases ".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries)
                    .Select(h => long.TryParse(h, System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture, out long l) ? l : 0)];
        }
        return (lines[0], string.IsNullOrEmpty(incarnation) ? null : incarnation, leases);
    }

    private void StartKeeper(LeaseKeeper keeper)
    {
        keeper.Answered = OnAnswered;
        keeper.Lost = OnLost;
        keeper.Failed = (k, member, reason) => Log.KeepaliveFailed(_logger, k.Id, Connection.Endpoints[member], OneLine(reason));
        _loops.Add(Task.Run(() => keeper.RunAsync(_stop.Token)));
    }

    // ------------------------------------------------------------------ the fencing clock

    private TimeSpan Until(long s, TimeSpan after) => after - _time.GetElapsedTime(s);

    private void ArmStopGranting()
    {
        var due = Until(_short.AnsweredSend, FenceClock.StopGranting(_short.Ttl));
        _stopGrantingTimer.Change(due > TimeSpan.Zero ? due : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
    }

    private void ArmOpenClaims()
    {
        var due = Until(_long.AnsweredSend, FenceClock.Revoked(_long.Ttl));
        _openClaimsTimer.Change(due > TimeSpan.Zero ? due : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
    }

    private void OnAnswered(LeaseKeeper keeper)
    {
        double silent = 0;
        bool reachable = false;
        lock (_gate)
        {
            if (_disposed)
                return;
            if (keeper == _short)
            {
                if (_shortFenced && !_rejoining)
                {
                    _shortFenced = false;
                    reachable = true;
                    _revokedTimer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
                    silent = _time.GetElapsedTime(_lastAnsweredBeforeFence).TotalSeconds;
                }
                ArmStopGranting();
            }
            else if (keeper == _long)
            {
                ArmOpenClaims();
            }
        }
        if (reachable)
            Log.Reachable(_logger, silent);
    }

    private void OnStopGrantingDue()
    {
        ISessionListener? listener;
        TimeSpan untilRevoked;
        double silent;
        lock (_gate)
        {
            if (_disposed || _shortFenced || _rejoining)
                return;
            long s = _short.AnsweredSend;
            if (Until(s, FenceClock.StopGranting(_short.Ttl)) > TimeSpan.Zero)
            {
                ArmStopGranting(); // a keepalive was answered meanwhile
                return;
            }
            _shortFenced = true;
            _lastAnsweredBeforeFence = s;
            listener = _listener;
            untilRevoked = Until(s, FenceClock.Revoked(_short.Ttl));
            if (untilRevoked < TimeSpan.Zero)
                untilRevoked = TimeSpan.Zero;
            silent = _time.GetElapsedTime(s).TotalSeconds;
        }
        int recalled = listener?.Fence(TokenRights.Open, untilRevoked) ?? 0;
        Log.StopGranting(_logger, silent, recalled, untilRevoked.TotalSeconds);
        lock (_gate)
        {
            if (_shortFenced && !_disposed)
                _revokedTimer.Change(Until(_lastAnsweredBeforeFence, FenceClock.Revoked(_short.Ttl)) is { Ticks: > 0 } due ? due : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
        }
    }

    private void OnRevokedDue()
    {
        double silent;
        lock (_gate)
        {
            if (_disposed || !_shortFenced)
                return;
            silent = _time.GetElapsedTime(_lastAnsweredBeforeFence).TotalSeconds;
        }
        Log.DelegationsRevoked(_logger, silent);
    }

    private void OnOpenClaimsDue()
    {
        ISessionListener? listener;
        double silent;
        bool start;
        lock (_gate)
        {
            if (_disposed || _longFenced)
                return;
            if (Until(_long.AnsweredSend, FenceClock.Revoked(_long.Ttl)) > TimeSpan.Zero)
            {
                ArmOpenClaims();
                return;
            }
            _longFenced = true;
            _longLost = true; // it may still live, but nothing proves it: claim the opens again under a new one
            start = BeginRejoin();
            listener = _listener;
            silent = _time.GetElapsedTime(_long.AnsweredSend).TotalSeconds;
        }
        int broken = listener?.Fence(TokenRights.None, TimeSpan.Zero) ?? 0;
        Log.OpenClaimsLost(_logger, silent, broken);
        if (start)
            _ = RejoinAsync();
    }

    private void OnLost(LeaseKeeper keeper)
    {
        ISessionListener? listener;
        bool isShort, start;
        lock (_gate)
        {
            if (_disposed || (keeper != _short && keeper != _long))
                return;
            isShort = keeper == _short;
            if (isShort)
                _shortFenced = _shortLost = true;
            else
                _longFenced = _longLost = true;
            start = BeginRejoin();
            listener = _listener;
        }
        Log.LeaseGone(_logger, keeper.Id);
        listener?.Fence(isShort ? TokenRights.Open : TokenRights.None, TimeSpan.Zero);
        if (start)
            _ = RejoinAsync();
    }

    /// <summary>Under <c>_gate</c>: marks a rejoin running; true when the caller must start it (one at a time).</summary>
    private bool BeginRejoin()
    {
        if (_rejoining)
            return false; // the running rejoin sees the lost lease before it ends
        _rejoining = true;
        return true;
    }

    /// <summary>Grants new leases for the lost ones, re-registers the node, re-claims the open rights in use, then unfences. Retries every second until it succeeds or the session ends.</summary>
    private async Task RejoinAsync()
    {
        var ct = _stop.Token;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                bool shortLost, longLost;
                lock (_gate)
                    (shortLost, longLost) = (_shortLost, _longLost);
                if (shortLost)
                {
                    var fresh = await LeaseKeeper.GrantAsync(Connection, _time, _options.LeaseTtl, ct).ConfigureAwait(false);
                    if (await PutNodeKeyAsync(Connection, Keys, _options.Incarnation, fresh.Id, LongLease, _logger, ct).ConfigureAwait(false) is { } holder)
                    {
                        await RevokeQuietlyAsync(Connection, [fresh.Id]).ConfigureAwait(false);
                        throw new InvalidOperationException($"node {Keys.Node} is taken by {holder}");
                    }
                    lock (_gate)
                    {
                        _short = fresh;
                        _shortLost = false;
                        if (!_disposed)
                            StartKeeper(fresh);
                        ArmStopGranting();
                    }
                }
                if (longLost)
                {
                    var previous = _long.Id;
                    var fresh = await LeaseKeeper.GrantAsync(Connection, _time, _options.OpenClaimTtl, ct).ConfigureAwait(false);
                    lock (_gate)
                    {
                        _long = fresh;
                        _longLost = false;
                        if (!_disposed)
                            StartKeeper(fresh);
                        ArmOpenClaims();
                    }
                    await RevokeQuietlyAsync(Connection, [previous]).ConfigureAwait(false);
                }
                int files = _listener is { } listener ? await listener.ReclaimAsync(ct).ConfigureAwait(false) : 0;
                lock (_gate)
                {
                    if (_shortLost || _longLost)
                        continue; // lost again meanwhile: once more
                    _shortFenced = _longFenced = _rejoining = false;
                    _revokedTimer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
                }
                Log.Rejoined(_logger, ShortLease, files);
                return;
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                Log.RejoinFailed(_logger, OneLine(e.Message));
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), _time, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
            catch (Exception) when (ct.IsCancellationRequested)
            {
                return; // the session ended under the rejoin
            }
        }
    }

    internal static string OneLine(string text) => text.ReplaceLineEndings(" ");

    /// <summary>Revokes <paramref name="leases"/>, each within 2 s; returns how many etcd confirmed (the rest expire after their TTL).</summary>
    private static async Task<int> RevokeQuietlyAsync(EtcdConnection connection, long[] leases)
    {
        using var within = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        int revoked = 0;
        foreach (long lease in leases)
        {
            try
            {
                await connection.LeaseRevokeAsync(new LeaseRevokeRequest { ID = lease }, within.Token).ConfigureAwait(false);
                revoked++;
            }
            catch (Exception e) when (e is EtcdUnavailableException or Grpc.Core.RpcException or OperationCanceledException)
            {
                // etcd expires it after its TTL anyway
            }
        }
        return revoked;
    }

    /// <summary>Stops the loops and revokes both leases, so every key this node wrote under them goes at once.</summary>
    public async ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            if (_disposed)
                return;
            _disposed = true;
        }
        await _stop.CancelAsync().ConfigureAwait(false);
        await _stopGrantingTimer.DisposeAsync().ConfigureAwait(false);
        await _revokedTimer.DisposeAsync().ConfigureAwait(false);
        await _openClaimsTimer.DisposeAsync().ConfigureAwait(false);
        Task[] loops;
        lock (_gate)
            loops = [.. _loops];
        await Task.WhenAll(loops).ConfigureAwait(false);
        if (await RevokeQuietlyAsync(Connection, [ShortLease, LongLease]).ConfigureAwait(false) == 2)
            Log.Left(_logger);
        else
            Log.LeftUnrevoked(_logger, (long)Ttl.TotalSeconds, (long)Volatile.Read(ref _long).Ttl.TotalSeconds);
        Connection.Dispose();
        _stop.Dispose();
    }

    /// <summary>Test hook: stops the loops without revoking, as if the process had been killed; etcd expires the leases after their TTL.</summary>
    internal async ValueTask AbandonAsync()
    {
        lock (_gate)
            _disposed = true;
        await _stop.CancelAsync().ConfigureAwait(false);
        Task[] loops;
        lock (_gate)
            loops = [.. _loops];
        await Task.WhenAll(loops).ConfigureAwait(false);
        _stopGrantingTimer.Dispose();
        _revokedTimer.Dispose();
        _openClaimsTimer.Dispose();
        Connection.Dispose();
    }

}
