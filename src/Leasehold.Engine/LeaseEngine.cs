using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Leasehold.Engine;

/// <summary>
/// Grants leases, delegations and layouts on files, checks them against opens and other grants, and breaks
/// them when an operation conflicts. The userspace counterpart of the lease half of Linux's fs/locks.c.
/// </summary>
/// <remarks>
/// <para>Every entry point finds the file's <see cref="FileState"/>, takes its lock, expires overdue breaks,
/// decides, and drops the lock; whatever must happen outside it (holder notices, waiter completions, the
/// authority's bookkeeping, logging) happens after, from the <see cref="Effects"/> collected. No call blocks a
/// thread: a breaker either hears "would block" at once or gets an awaitable.</para>
/// <para>Time comes only from the injected <see cref="TimeProvider"/>: deadlines are timestamps, and each file with
/// a pending break has one timer armed for its earliest deadline, so an unanswered break ends on time even if
/// nobody calls the engine again.</para>
/// </remarks>
public sealed partial class LeaseEngine : IDisposable, IAsyncDisposable
{
    private readonly ConcurrentDictionary<FileKey, FileState> _files = new();
    private readonly IGrantAuthority _authority;
    private readonly IFileTokens? _tokens;
    private readonly ILogger _logger;
    private readonly long _leaseBreakTicks;
    private readonly long _delegationBreakTicks;
    private readonly long _layoutBreakTicks;
    private readonly double _ticksPerTimestamp;
    private readonly TimeSpan _idleSweepInterval;
    private volatile bool _disposed;
    private ITimer? _sweepTimer;
    private int _sweepArmed;
    private readonly ConcurrentQueue<HolderNotice> _notices = new();
    private int _draining;
    private TaskCompletionSource? _noticesDrained;

    public LeaseEngine(
        LeaseEngineOptions? options = null,
        TimeProvider? timeProvider = null,
        IOwnerMatcher? ownerMatcher = null,
        IGrantAuthority? authority = null,
        ILogger<LeaseEngine>? logger = null,
        IFileTokens? tokens = null)
    {
        options ??= new LeaseEngineOptions();
        options.Validate();
        Time = timeProvider ?? TimeProvider.System;
        Matcher = ownerMatcher ?? OwnerMatchers.Exact;
        _authority = authority ?? InProcessGrantAuthority.Instance;
        _tokens = tokens;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _ticksPerTimestamp = (double)TimeSpan.TicksPerSecond / Time.TimestampFrequency;
        _leaseBreakTicks = ToTimestampTicks(options.LeaseBreakTime);
        _delegationBreakTicks = ToTimestampTicks(options.DelegationBreakTime);
        _layoutBreakTicks = ToTimestampTicks(options.LayoutBreakTime);
        RecallWindowTicks = ToTimestampTicks(options.DelegationRecallWindow);
        _idleSweepInterval = options.IdleSweepInterval;
        Metrics = new EngineMetrics();
    }

    /// <summary>This engine's instruments, on its own meter named <see cref="EngineMetrics.MeterName"/> (disposed with the engine).</summary>
    public EngineMetrics Metrics { get; }

    internal TimeProvider Time { get; }

    internal IOwnerMatcher Matcher { get; }

    internal long RecallWindowTicks { get; }

    internal bool IsDisposed => _disposed;

    /// <summary>Files the engine currently tracks: in use, in a recall window, or idle and not yet swept.</summary>
    public int TrackedFiles => _files.Count;

    // ================================================================ grants

    /// <summary>
    /// Asks for a grant. A second request by the same owner for the same kind on the same file changes the existing
    /// grant instead (upgrade or downgrade), as a second F_SETLEASE does. While that grant is being broken, the only
    /// change granted is the one the break asks for (Write to Read under a pending downgrade); anything else is
    /// <see cref="GrantStatus.BreakPending"/> and leaves the grant as it is (<see cref="ConflictRules.ChangeOwnGrant"/>).
    /// Completes synchronously unless the <see cref="IGrantAuthority"/> takes its time.
    /// </summary>
    public ValueTask<GrantResult> GrantAsync(GrantRequest request, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        if (!ConflictRules.IsValid(request.Kind, request.Mode))
            throw new ArgumentException($"A {request.Kind} cannot be {request.Mode}.", nameof(request));
        ArgumentNullException.ThrowIfNull(request.Holder);

        var admitted = _authority.AdmitAsync(request, cancellationToken);
        if (admitted.IsCompletedSuccessfully)
        {
            if (_tokens is null)
                return new ValueTask<GrantResult>(AdmitLocally(request, admitted.Result, TokenRights.None, out _));
            return AdmitWithToken(request, admitted.Result, cancellationToken);
        }
        return AwaitAuthority(request, admitted, cancellationToken);

        async ValueTask<GrantResult> AwaitAuthority(GrantRequest request, ValueTask<bool> admitted, CancellationToken cancellationToken)
        {
            bool yes = await admitted.ConfigureAwait(false);
            if (_tokens is null)
                return AdmitLocally(request, yes, TokenRights.None, out _);
            return await AdmitWithToken(request, yes, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <param name="need">The node token right the grant needs (None: no check); lacking it, nothing is decided and <paramref name="lacksToken"/> is set.</param>
    private GrantResult AdmitLocally(in GrantRequest request, bool admittedByAuthority, TokenRights need, out bool lacksToken)
    {
        lacksToken = false;
        if (!admittedByAuthority)
        {
            Log.GrantRefusedByAuthority(_logger, request.Kind, request.Mode, request.File, request.Owner);
            return GrantStatus.RefusedByAuthority;
        }

        var fx = new Effects();
        GrantResult result;
        while (true)
        {
            if (_disposed)
            {
                // Checked before every lookup: a retired state found while Dispose runs must not lead to a new one.
                _authority.OnGrantEnded(request, null);
                ThrowDisposed();
            }
            var file = _files.GetOrAdd(request.File, static (key, engine) => new FileState(key, engine), this);
            lock (file)
            {
                if (file.Retired || _disposed)
                    continue;
                if (need != 0 && !file.HoldsToken(need, Volatile.Read(ref _tokenGeneration)))
                {
                    lacksToken = true;
                    return default; // the caller asks the cluster outside the lock and comes back
                }
                var now = new Now(Time);
                result = file.Admit(request, ref now, ref fx);
                file.ArmTimer(ref now);
                if (file.IsIdle)
                    ScheduleSweep();
                break;
            }
        }
        if (!result.IsGranted)
            _authority.OnGrantEnded(request, null);
        if (fx.NewGrant)
            Metrics.Granted(request.Kind, request.Mode);
        if (!fx.IsEmpty)
            Run(ref fx);
        return result;
    }

    /// <summary>
    /// Weakens a grant one step (Write to Read, Exclusive to Shared). This is how a holder answers a
    /// <see cref="BreakTarget.Downgrade"/> break. Returns false, changing nothing, if the grant is no longer live or
    /// is being revoked (a revoke, escalated from a downgrade or not, is answered only by <see cref="Release"/>).
    /// A grant already at its weakest mode and not being broken returns true.
    /// </summary>
    public bool Downgrade(Grant grant)
    {
        ArgumentNullException.ThrowIfNull(grant);
        ThrowIfDisposed();
        var fx = new Effects();
        bool done;
        var file = grant.FileState;
        lock (file)
        {
            if (file.Retired)
                return false;
            var now = new Now(Time);
            done = file.Downgrade(grant, ref now, ref fx);
            file.ArmTimer(ref now);
        }
        if (!fx.IsEmpty)
            Run(ref fx);
        return done;
    }

    /// <summary>
    /// Gives a grant up. This is how a holder answers a <see cref="BreakTarget.Revoke"/> break, and how it
    /// acknowledges a grant the engine revoked. Releasing twice is harmless. Safe to call from a break notice.
    /// </summary>
    public void Release(Grant grant)
    {
        ArgumentNullException.ThrowIfNull(grant);
        if (_disposed)
            return; // everything was dropped with the engine
        var fx = new Effects();
        bool ended, idle;
        var file = grant.FileState;
        lock (file)
        {
            if (file.Retired)
                return;
            var now = new Now(Time);
            ended = file.Release(grant, ref now, ref fx);
            file.ArmTimer(ref now);
            idle = file.IsIdle;
        }
        if (idle)
            ScheduleSweep();
        if (ended)
            _authority.OnGrantEnded(new GrantRequest(grant.File, grant.Owner, grant.Kind, grant.CurrentMode, grant.Holder), grant);
        if (!fx.IsEmpty)
            Run(ref fx);
    }

    // ================================================================ opens and breakers

    /// <summary>
    /// Registers an open after breaking the grants it conflicts with (an open for write breaks every lease and
    /// delegation of other owners; an open for read downgrades write leases and recalls write delegations). In
    /// <see cref="BreakMode.NonBlocking"/> mode a conflict gives <see cref="BreakStatus.WouldBlock"/> and registers
    /// nothing. In <see cref="BreakMode.Await"/> mode the open is registered at the instant the last conflict
    /// goes, so no grant can slip in between. Every successful open must be matched by <see cref="Close"/>.
    /// </summary>
    public ValueTask<BreakResult> OpenAsync(FileKey file, Owner owner, OpenAccess access, BreakMode mode, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        if (access is not (OpenAccess.Read or OpenAccess.Write or OpenAccess.ReadWrite))
            throw new ArgumentOutOfRangeException(nameof(access), access, "An open reads, writes or both.");
        cancellationToken.ThrowIfCancellationRequested();
        if (_tokens is not null)
            return OpenWithToken(file, owner, access, mode, round: 0, cancellationToken);
        var op = ConflictRules.OperationFor(access);
        while (true)
        {
            ThrowIfDisposed();
            var state = _files.GetOrAdd(file, static (key, engine) => new FileState(key, engine), this);
            switch (TryBreak(state, op, owner, access, mode, long.MaxValue, TokenRights.None, out var result, out var waiter, holdFile: false, out _))
            {
                case Attempt.Done:
                    return result;
                case Attempt.Parked:
                    return Wait(waiter!, cancellationToken);
            }
        }
    }

    /// <summary>Forgets one open registered by <see cref="OpenAsync"/>, with the same owner and access.</summary>
    public void Close(FileKey file, Owner owner, OpenAccess access)
    {
        if (_disposed)
            return;
        if (!_files.TryGetValue(file, out var state))
        {
            if (_disposed)
                return; // Dispose cleared the table between our check and the lookup
            throw new InvalidOperationException($"No open of {file} by {owner} is registered.");
        }
        var fx = new Effects();
        bool idle;
        lock (state)
        {
            if (state.Retired && _disposed)
                return;
            if (state.Retired || !state.RemoveOpen(owner, access))
                throw new InvalidOperationException($"No {access} open of {file} by {owner} is registered.");
            var now = new Now(Time);
            state.Expire(ref now, ref fx);
            state.ArmTimer(ref now);
            idle = state.IsIdle;
        }
        if (idle)
            ScheduleSweep();
        if (!fx.IsEmpty)
            Run(ref fx);
    }

    /// <summary>
    /// Breaks the grants that <paramref name="op"/> by <paramref name="breaker"/> conflicts with, before the caller
    /// does the operation. Grants the breaker owns (see <see cref="IOwnerMatcher"/>) are left alone. A rename
    /// that replaces a file is two calls: <see cref="FileOperation.Rename"/> on the source and
    /// <see cref="FileOperation.Unlink"/> on the file it replaces.
    /// </summary>
    /// <returns>
    /// Proceed when nothing conflicts (at once, or once the conflicts are gone in Await mode); WouldBlock in
    /// NonBlocking mode while breaks are pending; LayoutBusy when another owner holds an exclusive layout.
    /// The awaitable fails with <see cref="OperationCanceledException"/> on cancellation and with
    /// <see cref="ObjectDisposedException"/> if the engine is disposed first.
    /// </returns>
    public ValueTask<BreakResult> BreakAsync(FileKey file, FileOperation op, Owner breaker, BreakMode mode, CancellationToken cancellationToken = default) =>
        Break(file, op, breaker, mode, long.MaxValue, cancellationToken);

    /// <summary>
    /// <see cref="BreakAsync(FileKey, FileOperation, Owner, BreakMode, CancellationToken)"/> for a breaker that cannot
    /// wait long (a local process held in the kernel, which lets it in when its own lease-break-time runs out): every
    /// grant it breaks must be back by <paramref name="maxBreakTime"/> from now. A new break's deadline is the earlier of
    /// the kind's break time and <paramref name="maxBreakTime"/>; a grant already being broken has its deadline pulled in
    /// to now + <paramref name="maxBreakTime"/> when that is earlier, and is never given longer. Zero takes the grants back
    /// at once (the result is then Proceed), as a break time of zero does. The holder is told the deadline of a new break
    /// (<see cref="IGrantHolder.OnBreak"/>); a pulled-in deadline is not announced again.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxBreakTime"/> is negative or longer than a day.</exception>
    public ValueTask<BreakResult> BreakAsync(FileKey file, FileOperation op, Owner breaker, BreakMode mode, TimeSpan maxBreakTime, CancellationToken cancellationToken = default)
    {
        if (maxBreakTime < TimeSpan.Zero || maxBreakTime > TimeSpan.FromDays(1))
            throw new ArgumentOutOfRangeException(nameof(maxBreakTime), maxBreakTime, "maxBreakTime must be between 0 and 1 day.");
        return Break(file, op, breaker, mode, ToTimestampTicks(maxBreakTime), cancellationToken);
    }

    private ValueTask<BreakResult> Break(FileKey file, FileOperation op, Owner breaker, BreakMode mode, long maxBreakTicks, CancellationToken cancellationToken)
    {
        if (_tokens is not null)
            return BreakWithToken(file, op, breaker, mode, maxBreakTicks, round: 0, cancellationToken);
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        while (true)
        {
            // The common case, a file nobody holds a grant on, costs one dictionary lookup, no lock and no allocation.
            if (!_files.TryGetValue(file, out var state) || state.HasNoGrants)
                return new ValueTask<BreakResult>(BreakResult.Proceed);
            switch (TryBreak(state, op, breaker, 0, mode, maxBreakTicks, TokenRights.None, out var result, out var waiter, holdFile: false, out _))
            {
                case Attempt.Done:
                    return result;
                case Attempt.Parked:
                    return Wait(waiter!, cancellationToken);
            }
        }
    }

    /// <summary>
    /// Like <see cref="BreakAsync"/>, but when the change may proceed the file stays held until the returned
    /// <see cref="FileChange"/> is disposed: no grant the change conflicts with is admitted in between. The exported
    /// tree uses this around every change it makes, so "recall, then change" is one step as far as grants can tell.
    /// </summary>
    public ValueTask<FileChange> BeginChangeAsync(FileKey file, FileOperation op, Owner breaker, BreakMode mode, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        if (_tokens is not null)
            return BeginChangeWithToken(file, op, breaker, mode, round: 0, cancellationToken);
        while (true)
        {
            ThrowIfDisposed();
            var state = _files.GetOrAdd(file, static (key, engine) => new FileState(key, engine), this);
            switch (TryBreak(state, op, breaker, 0, mode, long.MaxValue, TokenRights.None, out var result, out var waiter, holdFile: true, out var guard))
            {
                case Attempt.Done:
                    return new ValueTask<FileChange>(new FileChange(result.Result, guard));
                case Attempt.Parked:
                    return AwaitChange(waiter!, cancellationToken);
            }
        }
    }

    private async ValueTask<FileChange> AwaitChange(BreakWaiter waiter, CancellationToken cancellationToken) =>
        new(await Wait(waiter, cancellationToken).ConfigureAwait(false), waiter);

    internal void EndChange(BreakWaiter guard)
    {
        if (_disposed)
            return;
        var file = guard.File;
        bool idle = false;
        lock (file)
        {
            if (!file.Retired && file.EndChange(guard))
                idle = file.IsIdle;
        }
        if (idle)
            ScheduleSweep();
    }

    /// <summary>How one attempt under the file lock ended.</summary>
    private enum Attempt : byte
    {
        /// <summary>The state was retired under us: look the file up again.</summary>
        Retry,

        /// <summary>There is a result.</summary>
        Done,

        /// <summary>A waiter was parked (Await mode).</summary>
        Parked,

        /// <summary>The node lacks the token right the operation needs: ask the cluster outside the lock, then try again.</summary>
        LacksToken,
    }

    /// <summary>One attempt under the file lock.</summary>
    /// <param name="maxBreakTicks">The longest any grant broken here may take, in timestamp ticks (long.MaxValue: no bound).</param>
    /// <param name="need">The node token right the operation needs (None: no check, a single server).</param>
    private Attempt TryBreak(FileState state, FileOperation op, Owner breaker, OpenAccess openToRegister, BreakMode mode, long maxBreakTicks,
        TokenRights need, out ValueTask<BreakResult> result, out BreakWaiter? waiter, bool holdFile, out BreakWaiter? guard)
    {
        guard = null;
        var fx = new Effects();
        waiter = null;
        BreakResult outcome;
        bool idle;
        lock (state)
        {
            if (state.Retired)
            {
                result = default;
                return Attempt.Retry;
            }
            if (_disposed)
                ThrowDisposed();
            if (need != 0 && !state.HoldsToken(need, Volatile.Read(ref _tokenGeneration)))
            {
                result = default;
                return Attempt.LacksToken;
            }
            var now = new Now(Time);
            state.Expire(ref now, ref fx);
            int remaining = state.StartBreaks(op, breaker, maxBreakTicks, ref now, ref fx, out long earliest);
            if (remaining < 0)
            {
                outcome = new BreakResult(BreakStatus.LayoutBusy);
            }
            else if (remaining == 0)
            {
                if (openToRegister != 0)
                    state.AddOpen(breaker, openToRegister);
                if (holdFile)
                    guard = state.Park(op, breaker, 0, remaining: 0, holdsFile: true);
                outcome = BreakResult.Proceed;
            }
            else if (mode == BreakMode.NonBlocking)
            {
                outcome = new BreakResult(BreakStatus.WouldBlock, Time.GetUtcNow() + ToTimeSpanCeiling(earliest - now.Value));
            }
            else
            {
                waiter = state.Park(op, breaker, openToRegister, remaining, holdFile);
                outcome = default;
            }
            state.ArmTimer(ref now);
            idle = state.IsIdle;
        }
        if (idle)
            ScheduleSweep();
        if (!fx.IsEmpty)
            Run(ref fx);
        if (waiter is not null)
        {
            result = default;
            return Attempt.Parked;
        }
        if (outcome.Status == BreakStatus.WouldBlock)
            Log.BreakWouldBlock(_logger, op, state.Key, breaker);
        else if (outcome.Status == BreakStatus.LayoutBusy)
            Log.LayoutBusy(_logger, op, state.Key, breaker);
        result = new ValueTask<BreakResult>(outcome);
        return Attempt.Done;
    }

    private ValueTask<BreakResult> Wait(BreakWaiter waiter, CancellationToken cancellationToken)
    {
        Log.BreakerWaiting(_logger, waiter.Operation, waiter.File.Key, waiter.Breaker, waiter.Remaining);
        if (cancellationToken.CanBeCanceled)
        {
            // Registered after the lock is dropped: an already-cancelled token runs the callback inline.
            waiter.Registration = cancellationToken.UnsafeRegister(
                static (state, token) => ((BreakWaiter)state!).File.Engine.Cancel((BreakWaiter)state!, token), waiter);
            if (waiter.Task.IsCompleted)
                waiter.Registration.Unregister(); // released between the unlock and the registration
        }
        return new ValueTask<BreakResult>(waiter.Task);
    }

    internal void Cancel(BreakWaiter waiter, CancellationToken token)
    {
        bool removed, idle = false;
        var file = waiter.File;
        lock (file)
        {
            removed = !file.Retired && file.Unpark(waiter);
            if (removed)
                idle = file.IsIdle;
        }
        if (idle)
            ScheduleSweep();
        if (removed)
            waiter.TrySetCanceled(token);
    }

    // ================================================================ timers

    internal void OnFileTimer(FileState file)
    {
        var fx = new Effects();
        bool idle;
        lock (file)
        {
            if (file.Retired || _disposed)
                return;
            var now = new Now(Time);
            file.TimerFired();
            file.Expire(ref now, ref fx);
            file.ArmTimer(ref now);
            idle = file.IsIdle;
        }
        if (idle)
            ScheduleSweep();
        if (!fx.IsEmpty)
            Run(ref fx);
    }

    // ================================================================ visibility

    /// <summary>Every grant and parked breaker, as /proc/locks would show them.</summary>
    public EngineSnapshot Snapshot()
    {
        ThrowIfDisposed();
        var grants = new List<GrantSnapshot>();
        var breakers = new List<BreakerSnapshot>();
        foreach (var (_, file) in _files)
        {
            var fx = new Effects();
            lock (file)
            {
                if (file.Retired)
                    continue;
                var now = new Now(Time);
                file.Expire(ref now, ref fx);
                file.ArmTimer(ref now);
                file.AppendSnapshot(grants, breakers, now.Value, Time.GetUtcNow());
            }
            if (!fx.IsEmpty)
                Run(ref fx);
        }
        return new EngineSnapshot(grants, breakers);
    }

    internal long BreakTicks(GrantKind kind) => kind switch
    {
        GrantKind.Delegation => _delegationBreakTicks,
        GrantKind.Layout => _layoutBreakTicks,
        _ => _leaseBreakTicks,
    };

    private long ToTimestampTicks(TimeSpan span) => (long)Math.Ceiling(span.Ticks / _ticksPerTimestamp);

    /// <summary>Timestamp ticks to a TimeSpan, rounded up so a timer never fires before the deadline it is armed for.</summary>
    internal TimeSpan ToTimeSpanCeiling(long timestampTicks) => TimeSpan.FromTicks((long)Math.Ceiling(timestampTicks * _ticksPerTimestamp));

    private void ThrowIfDisposed()
    {
        if (_disposed)
            ThrowDisposed();
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void ThrowDisposed() => throw new ObjectDisposedException(nameof(LeaseEngine), "The lease engine has been disposed.");
}
