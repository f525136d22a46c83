using System.Net;

namespace Leasehold.Rpc.Server;

/// <summary>
/// Rate-limits log lines about one peer: per peer address (the port is ignored, so a flood over many connections is
/// one peer), the first <c>burst</c> lines of each window are let through and the rest are counted. When a window
/// with suppressed lines ends, <c>reportSuppressed</c> is called once with the count, so nothing is lost silently:
/// either from the next <see cref="ShouldLog"/> for that peer, or from a timer at the window's end, or from
/// <see cref="Dispose"/>.
/// </summary>
/// <remarks>
/// Windows are fixed and start at a peer's first line. Peers are kept while their window runs (and while it has a
/// count to report); at most <see cref="MaxPeers"/> are tracked, the rest share one entry reported as
/// <see cref="OtherPeers"/>. <c>reportSuppressed</c> runs outside the limiter's lock, on the caller's or the timer's
/// thread. Time comes only from the given <see cref="TimeProvider"/>.
/// </remarks>
public sealed class PeerLogLimiter : IDisposable
{
    /// <summary>Peers tracked at once; beyond it new peers share one budget.</summary>
    public const int MaxPeers = 4096;

    /// <summary>The name under which peers beyond <see cref="MaxPeers"/> (or without an IP address) are counted.</summary>
    public const string OtherPeers = "other peers";

    private readonly Lock _lock = new();
    private readonly Dictionary<string, Window> _peers = [];
    private readonly int _burst;
    private readonly TimeSpan _window;
    private readonly TimeProvider _time;
    private readonly Action<string, long, TimeSpan> _reportSuppressed;
    private ITimer? _timer;
    private long _timerDue; // timestamp the armed timer fires at
    private bool _disposed;

    /// <param name="burst">Lines let through per peer and window.</param>
    /// <param name="window">Length of a window.</param>
    /// <param name="time">The clock.</param>
    /// <param name="reportSuppressed">Called with (peer, lines suppressed, time since the window began) when a window ends with a count.</param>
    public PeerLogLimiter(int burst, TimeSpan window, TimeProvider time, Action<string, long, TimeSpan> reportSuppressed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(burst, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(window, TimeSpan.Zero);
        _burst = burst;
        _window = window;
        _time = time;
        _reportSuppressed = reportSuppressed;
    }

    /// <summary>The peer's name in logs and reports: its IP address, or <see cref="OtherPeers"/>.</summary>
    public static string PeerOf(EndPoint? peer) => peer is IPEndPoint ip ? ip.Address.ToString() : OtherPeers;

    /// <summary>True when a line about <paramref name="peer"/> may be logged now; false when it is counted instead.</summary>
    public bool ShouldLog(EndPoint? peer)
    {
        string key = PeerOf(peer);
        (string Peer, long Count, TimeSpan Span)? ended = null;
        bool allow;
        lock (_lock)
        {
            long now = _time.GetTimestamp();
            if (!_peers.TryGetValue(key, out var w))
            {
                if (_peers.Count >= MaxPeers)
                    Prune(now, null);
                if (_peers.Count >= MaxPeers)
                    key = OtherPeers;
                if (!_peers.TryGetValue(key, out w))
                    _peers[key] = w = new Window(now);
            }
            var elapsed = _time.GetElapsedTime(w.Start, now);
            if (elapsed >= _window)
            {
                if (w.Suppressed > 0)
                    ended = (key, w.Suppressed, elapsed);
                (w.Start, w.Logged, w.Suppressed) = (now, 0, 0);
            }
            allow = w.Logged < _burst;
            if (allow)
                w.Logged++;
            else if (++w.Suppressed == 1)
                ArmTimer(now, _window - _time.GetElapsedTime(w.Start, now));
        }
        if (ended is { } e)
            _reportSuppressed(e.Peer, e.Count, e.Span);
        return allow;
    }

    /// <summary>Reports every count still pending and stops the timer.</summary>
    public void Dispose()
    {
        List<(string, long, TimeSpan)> reports = [];
        lock (_lock)
        {
            if (_disposed)
                return;
            _disposed = true;
            long now = _time.GetTimestamp();
            foreach (var (peer, w) in _peers)
            {
                if (w.Suppressed > 0)
                    reports.Add((peer, w.Suppressed, _time.GetElapsedTime(w.Start, now)));
            }
            _peers.Clear();
            _timer?.Dispose();
            _timer = null;
        }
        foreach (var (peer, count, span) in reports)
            _reportSuppressed(peer, count, span);
    }

    /// <summary>Under the lock: makes sure the timer fires no later than <paramref name="due"/> from <paramref name="now"/>.</summary>
    private void ArmTimer(long now, TimeSpan due)
    {
        if (_disposed)
            return;
        if (due <= TimeSpan.Zero)
            due = TimeSpan.FromTicks(1);
        long dueAt = now + (long)(due.TotalSeconds * _time.TimestampFrequency);
        if (_timer is null)
            _timer = _time.CreateTimer(static s => ((PeerLogLimiter)s!).OnTimer(), this, due, Timeout.InfiniteTimeSpan);
        else if (dueAt < _timerDue)
            _timer.Change(due, Timeout.InfiniteTimeSpan);
        else
            return;
        _timerDue = dueAt;
    }

    private void OnTimer()
    {
        List<(string, long, TimeSpan)> reports = [];
        lock (_lock)
        {
            if (_disposed)
                return;
            long now = _time.GetTimestamp();
            Prune(now, reports);
            // The earliest window still holding a count decides when to look again.
            TimeSpan? next = null;
            foreach (var w in _peers.Values)
            {
                if (w.Suppressed == 0)
                    continue;
                var left = _window - _time.GetElapsedTime(w.Start, now);
                if (next is null || left < next)
                    next = left;
            }
            _timer?.Dispose();
            _timer = null;
            if (next is { } due)
                ArmTimer(now, due);
        }
        foreach (var (peer, count, span) in reports)
            _reportSuppressed(peer, count, span);
    }

    /// <summary>Under the lock: forgets peers whose window ended, collecting their counts into <paramref name="reports"/>.</summary>
    private void Prune(long now, List<(string, long, TimeSpan)>? reports)
    {
        List<string>? gone = null;
        foreach (var (peer, w) in _peers)
        {
            var elapsed = _time.GetElapsedTime(w.Start, now);
            if (elapsed < _window)
                continue;
            if (w.Suppressed > 0)
            {
                if (reports is null)
                    continue; // keep it until someone can report it
                reports.Add((peer, w.Suppressed, elapsed));
            }
            (gone ??= []).Add(peer);
        }
        if (gone is not null)
        {
            foreach (var peer in gone)
                _peers.Remove(peer);
        }
    }

    private sealed class Window(long start)
    {
        public long Start = start;
        public int Logged;
        public long Suppressed;
    }
}
