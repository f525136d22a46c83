using Microsoft.Extensions.Logging;

namespace Leasehold.Engine;

// LeaseEngine, after a critical section: carrying out its effects (grants ended, waiters completed, authority
// bookkeeping) and delivering holder notices in order from one drainer, never under a file lock.
public sealed partial class LeaseEngine
{
    // ================================================================ effects

    /// <summary>Carries out what a critical section decided. Never called under a file lock.</summary>
    private void Run(ref Effects fx)
    {
        if (fx.Ended is { } ended)
        {
            foreach (var grant in ended)
                _authority.OnGrantEnded(new GrantRequest(grant.File, grant.Owner, grant.Kind, grant.CurrentMode, grant.Holder), grant);
        }
        if (fx.Completions is { } completions)
        {
            foreach (var (waiter, result) in completions)
            {
                waiter.Registration.Unregister();
                waiter.TrySetResult(result);
            }
        }
        if (fx.Notices is { } notices)
            Metrics.Noticed(notices);
        if (fx.Notices is { } queued && !_disposed)
        {
            foreach (var notice in queued)
                _notices.Enqueue(notice);
            StartDrainer();
        }
    }

    // ================================================================ holder notices

    /// <summary>
    /// Holder notices go through one lock-free queue drained by at most one thread-pool work item at a time, so a
    /// holder hears of a grant's break before its expiry, in the order the engine decided them. Holders must not
    /// block in a notice (they queue their own I/O, as the NFS layer queues a CB_RECALL).
    /// </summary>
    private void StartDrainer()
    {
        if (Interlocked.CompareExchange(ref _draining, 1, 0) == 0)
            ThreadPool.UnsafeQueueUserWorkItem(static engine => engine.Drain(), this, preferLocal: false);
    }

    private void Drain()
    {
        while (true)
        {
            while (_notices.TryDequeue(out var notice))
                Deliver(notice);
            Volatile.Write(ref _draining, 0);
            // A notice enqueued after the last TryDequeue but before the flag was cleared saw the drainer running: take it.
            if (_notices.IsEmpty || Interlocked.CompareExchange(ref _draining, 1, 0) != 0)
                break;
        }
        if (_disposed)
            Volatile.Read(ref _noticesDrained)?.TrySetResult();
    }

    private void Deliver(HolderNotice notice)
    {
        var grant = notice.Grant;
        try
        {
            if (!notice.Expired)
            {
                Log.BreakSent(_logger, grant.Kind, grant.File, grant.Owner, notice.Target, notice.Deadline);
                grant.Holder.OnBreak(grant, notice.Target, notice.Deadline);
            }
            else
            {
                if (notice.Target == BreakTarget.Revoke)
                    Log.GrantRevoked(_logger, grant.Kind, grant.File, grant.Owner);
                else
                    Log.GrantDowngraded(_logger, grant.Kind, grant.File, grant.Owner);
                grant.Holder.OnBreakExpired(grant, notice.Target);
            }
        }
        catch (Exception ex)
        {
            // One holder's bug must not keep the others from hearing of their breaks; the deadline still applies to it.
            Log.HolderFailed(_logger, ex, grant.Kind, grant.File, grant.Owner);
        }
    }

    // ================================================================ helpers
}
