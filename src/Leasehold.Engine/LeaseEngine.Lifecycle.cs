namespace Leasehold.Engine;

// LeaseEngine, the life of its file states and of the engine itself: the idle sweep and disposal.
public sealed partial class LeaseEngine
{
    // ================================================================ idle sweep

    /// <summary>
    /// Makes sure a sweep will come for an idle file state. Cheap when one is already armed: one volatile read.
    /// The sweep clears the flag before it scans, so a state that goes idle during a scan arms the next one.
    /// </summary>
    private void ScheduleSweep()
    {
        if (Volatile.Read(ref _sweepArmed) != 0 || Interlocked.CompareExchange(ref _sweepArmed, 1, 0) != 0 || _disposed)
            return;
        var timer = Volatile.Read(ref _sweepTimer);
        if (timer is null)
        {
            var created = Time.CreateTimer(static s => ((LeaseEngine)s!).Sweep(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            timer = Interlocked.CompareExchange(ref _sweepTimer, created, null) ?? created;
            if (timer != created)
                created.Dispose();
        }
        timer.Change(_idleSweepInterval, Timeout.InfiniteTimeSpan);
        if (_disposed)
            Interlocked.Exchange(ref _sweepTimer, null)?.Dispose(); // raced with Dispose: leave no timer behind
    }

    /// <summary>Retires file states idle since the previous sweep (two-step, so a state in steady reuse is never dropped).</summary>
    private void Sweep()
    {
        Volatile.Write(ref _sweepArmed, 0);
        if (_disposed)
            return;
        long now = Time.GetTimestamp();
        bool again = false;
        foreach (var (key, file) in _files)
        {
            bool stillIdle, retired;
            lock (file)
            {
                if (file.Retired)
                    continue;
                stillIdle = file.Sweep(now, out retired);
                if (retired)
                    _files.TryRemove(new KeyValuePair<FileKey, FileState>(key, file));
            }
            again |= stillIdle;
        }
        if (again)
            ScheduleSweep();
    }

    // ================================================================ disposal

    /// <summary>
    /// Drops every grant, open and timer, and fails every parked breaker with <see cref="ObjectDisposedException"/>.
    /// Holder notices already queued still run; <see cref="DisposeAsync"/> waits for them.
    /// </summary>
    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true; // from here no entry point parks a waiter, arms a timer or queues a notice
        Interlocked.Exchange(ref _sweepTimer, null)?.Dispose();
        var orphans = new List<BreakWaiter>();
        var dropped = new List<Grant>();
        foreach (var (_, file) in _files)
        {
            lock (file)
            {
                if (file.DetachAll(dropped) is { } waiters)
                    orphans.AddRange(waiters.Where(w => w.Remaining > 0)); // a held FileChange has nothing left to wait for
            }
        }
        _files.Clear();
        foreach (var grant in dropped)
            _authority.OnGrantEnded(new GrantRequest(grant.File, grant.Owner, grant.Kind, grant.CurrentMode, grant.Holder), grant);
        if (orphans.Count > 0)
            Log.DisposedWithWaiters(_logger, orphans.Count);
        foreach (var waiter in orphans)
        {
            waiter.Registration.Unregister();
            waiter.TrySetException(new ObjectDisposedException(nameof(LeaseEngine), $"The lease engine was disposed while this {waiter.Operation} of {waiter.File.Key} waited for a break."));
        }
        Metrics.Dispose();
    }

    /// <summary>Disposes, then waits until no holder notice is still running.</summary>
    public async ValueTask DisposeAsync()
    {
        Dispose();
        var drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _noticesDrained, drained);
        if (Volatile.Read(ref _draining) == 0 && _notices.IsEmpty)
            drained.TrySetResult();
        await drained.Task.ConfigureAwait(false);
    }
}
