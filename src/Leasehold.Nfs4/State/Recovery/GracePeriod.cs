using Microsoft.Extensions.Logging;

namespace Leasehold.Nfs4.State.Recovery;

/// <summary>Whether a client that introduces itself during the grace period may reclaim (<see cref="GracePeriod.RoleOf"/>).</summary>
internal enum ReclaimRole
{
    /// <summary>Not in the records (or no grace period now): its reclaims are NFS4ERR_NO_GRACE.</summary>
    None,

    /// <summary>In the records with the same principal: it may reclaim until its RECLAIM_COMPLETE or the end of grace.</summary>
    Reclaimer,

    /// <summary>Its co_ownerid is recorded under another principal: not a reclaimer, and the record stays for the real owner.</summary>
    OtherPrincipal,
}

/// <summary>
/// The grace period after a start that found recorded clients (RFC 8881 §8.4.2.1): while it lasts, the recorded
/// clients reclaim their opens and locks and nobody gets new ones. It starts on when <see cref="RecoveryStart.Reclaimable"/>
/// is not empty and ends, once, at the first of:
/// <list type="bullet">
/// <item>every recorded client has sent RECLAIM_COMPLETE (<see cref="CompletedAsync"/>), as knfsd ends it early;</item>
/// <item>the deadline, start + <c>graceTime</c>; while reclaims keep arriving (one in the last second) the deadline
/// moves 1 s at a time, up to start + 2 × <c>graceTime</c> (knfsd's <c>clients_still_reclaiming</c>).</item>
/// </list>
/// The end first makes the store forget the clients that did not come back, then lets new state in (knfsd's order:
/// a crash in between forgets them, never lets new state overtake them). The clock is the server's TimeProvider.
/// </summary>
internal sealed class GracePeriod : IDisposable
{
    private static readonly TimeSpan Extension = TimeSpan.FromSeconds(1);

    private readonly Lock _sync = new();
    private readonly Dictionary<string, string> _pending = []; // co_ownerid (hex) → principal, until RECLAIM_COMPLETE
    private readonly IClientRecordStore _store;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Func<ValueTask>? _beforeEnd;
    private readonly long _started;
    private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ITimer? _timer;
    private volatile bool _inGrace;
    private int _ending;
    private long _lastReclaim = long.MinValue;
    private long _endsAt; // server clock timestamp of the deadline as it stands (extensions move it)

    /// <param name="store">The store that <paramref name="start"/> came from: told when grace ends.</param>
    /// <param name="start">What the store's Open() found.</param>
    /// <param name="graceTime">How long the grace period lasts without extensions (at least one lease time).</param>
    /// <param name="time">The server's clock.</param>
    /// <param name="logger">Where the start and the end are logged.</param>
    /// <param name="beforeEnd">Called at the end, before the store forgets anybody (the server re-records reclaimers that hold state).</param>
    public GracePeriod(IClientRecordStore store, RecoveryStart start, TimeSpan graceTime, TimeProvider time, ILogger logger, Func<ValueTask>? beforeEnd = null)
    {
        _store = store;
        _time = time;
        _logger = logger;
        _beforeEnd = beforeEnd;
        GraceTime = graceTime;
        _started = time.GetTimestamp();
        _endsAt = _started + (long)(graceTime.TotalSeconds * time.TimestampFrequency);
        foreach (var record in start.Reclaimable)
            _pending[Key(record.OwnerId)] = record.Principal;
        Reclaimable = _pending.Count;
        if (Reclaimable == 0)
        {
            _ended.SetResult();
            return;
        }
        _inGrace = true;
        Log.GraceStarted(logger, graceTime.TotalSeconds, Reclaimable);
        _timer = time.CreateTimer(static s => ((GracePeriod)s!).OnDeadline(), this, graceTime, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Whether the grace period is on: reclaims allowed, new opens and locks refused (NFS4ERR_GRACE). One volatile read.</summary>
    public bool InGrace => _inGrace;

    /// <summary>How many clients were recorded at start.</summary>
    public int Reclaimable { get; }

    /// <summary>The grace period's length without extensions.</summary>
    public TimeSpan GraceTime { get; }

    /// <summary>
    /// How long the grace period has left as its deadline stands now (reclaims still arriving may stretch it by a
    /// second at a time, and the last RECLAIM_COMPLETE ends it sooner); null when it is over or there was none.
    /// </summary>
    public TimeSpan? Left
    {
        get
        {
            if (!_inGrace)
                return null;
            var left = _time.GetElapsedTime(_time.GetTimestamp(), Interlocked.Read(ref _endsAt));
            return left > TimeSpan.Zero ? left : TimeSpan.Zero;
        }
    }

    /// <summary>Recorded clients that have not sent RECLAIM_COMPLETE yet.</summary>
    public int Pending
    {
        get
        {
            lock (_sync)
                return _pending.Count;
        }
    }

    /// <summary>Completes when the grace period is over (at once when there was none).</summary>
    public Task Ended => _ended.Task;

    /// <summary>Whether the client introducing itself with <paramref name="ownerId"/> and <paramref name="principal"/> may reclaim.</summary>
    public ReclaimRole RoleOf(ReadOnlySpan<byte> ownerId, string principal)
    {
        if (!_inGrace)
            return ReclaimRole.None;
        lock (_sync)
        {
            if (!_pending.TryGetValue(Key(ownerId), out var recorded))
                return ReclaimRole.None;
            return recorded == principal ? ReclaimRole.Reclaimer : ReclaimRole.OtherPrincipal;
        }
    }

    /// <summary>An OPEN or LOCK was reclaimed: the deadline may stretch while reclaims keep coming.</summary>
    public void Reclaimed() => Interlocked.Exchange(ref _lastReclaim, _time.GetTimestamp());

    /// <summary>
    /// A reclaiming client sent RECLAIM_COMPLETE (§18.51.3): it is done. When it was the last recorded client, the grace
    /// period ends now (the returned task completes once it has).
    /// </summary>
    public ValueTask CompletedAsync(byte[] ownerId)
    {
        bool last;
        lock (_sync)
            last = _pending.Remove(Key(ownerId)) && _pending.Count == 0;
        return last ? EndAsync() : ValueTask.CompletedTask;
    }

    private void OnDeadline()
    {
        if (!_inGrace)
            return;
        long now = _time.GetTimestamp();
        long last = Interlocked.Read(ref _lastReclaim);
        bool reclaiming = last != long.MinValue && _time.GetElapsedTime(last, now) < Extension;
        if (reclaiming && _time.GetElapsedTime(_started, now) + Extension <= 2 * GraceTime)
        {
            Interlocked.Exchange(ref _endsAt, now + (long)(Extension.TotalSeconds * _time.TimestampFrequency));
            _ = _timer!.Change(Extension, Timeout.InfiniteTimeSpan); // somebody is still reclaiming: one more second
            return;
        }
        _ = EndAsync().AsTask();
    }

    /// <summary>Ends the grace period (once; later calls return at once): the store forgets the clients that did not come back, then new state is allowed.</summary>
    public async ValueTask EndAsync()
    {
        if (Interlocked.Exchange(ref _ending, 1) != 0 || !_inGrace)
            return;
        try
        {
            if (_beforeEnd is not null)
                await _beforeEnd().ConfigureAwait(false);
            await _store.EndGraceAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // The records of clients that did not come back stay: the next start waits for them in vain, up to its
            // grace time. Refusing new state forever would be worse.
            Log.GraceEndNotRecorded(_logger, ex);
        }
        int reclaimed;
        lock (_sync)
            reclaimed = Reclaimable - _pending.Count;
        _inGrace = false;
        _timer?.Dispose();
        Log.GraceEnded(_logger, _time.GetElapsedTime(_started).TotalSeconds, reclaimed, Reclaimable);
        _ended.TrySetResult();
    }

    /// <summary>Stops the deadline timer (the server is stopping); the records stay as they are for the next start.</summary>
    public void Dispose() => _timer?.Dispose();

    private static string Key(ReadOnlySpan<byte> ownerId) => Convert.ToHexString(ownerId);
}
