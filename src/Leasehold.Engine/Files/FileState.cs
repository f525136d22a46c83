using System.Runtime.CompilerServices;

namespace Leasehold.Engine;

/// <summary>
/// Everything the engine knows about one file: its grants, its opens and, once it has seen a break, its
/// <see cref="BreakState"/> (parked breakers, deadline timer, delegation recall window).
/// </summary>
/// <remarks>
/// <para><b>Lock.</b> The object's own monitor is the file lock; it guards every field here, the
/// <see cref="BreakState"/>, the mutable fields of the file's <see cref="Grant"/>s and the
/// <see cref="BreakWaiter.Remaining"/> of its waiters. (A separate <c>System.Threading.Lock</c> would cost 40
/// bytes a file; with a million delegated files that is 40 MB.) There is no lock above it: files never lock
/// each other, and the engine's dictionary is only touched through its own lock-free reads and striped writes.</para>
/// <para><b>Rules under the lock.</b> Nothing under it calls a holder, the authority, a waiter's continuation or
/// the logger, and nothing awaits. Methods here record those in <see cref="Effects"/>; the engine carries them
/// out once the lock is dropped. That is what lets a holder release its grant from inside a break notice.</para>
/// <para><b>Lifetime.</b> A state stays in the engine's dictionary while it is in use and for a while after it
/// goes idle (no grants, opens or waiters): a file opened and closed in a loop keeps its state instead of paying
/// for a dictionary insert and removal each time. The engine's idle sweep marks idle states and retires those
/// still idle, and out of their recall window, at the next sweep. Retirement sets <see cref="Retired"/> under the
/// lock; a caller that finds a retired state (it raced with the sweep) looks the file up again.</para>
/// <para><b>Invariants.</b> (1) No two live grants of non-matching owners conflict
/// (<see cref="ConflictRules.GrantsConflict"/>). (2) No live lease or delegation coexists with another owner's
/// open it forbids, except while that grant is Breaking, which is exactly the window a breaker waits out.
/// (3) <see cref="_breaking"/> counts the Breaking grants and <see cref="BreakState.NextDeadline"/> is never later
/// than the earliest of their deadlines. (4) A waiter's <see cref="BreakWaiter.Remaining"/> equals the number of
/// live grants that block it. (5) <see cref="_strongGrants"/> counts live Write and Exclusive grants.</para>
/// </remarks>
internal sealed partial class FileState(FileKey key, LeaseEngine engine)
{
    private static readonly TimerCallback s_onTimer = static state => ((FileState)state!).Engine.OnFileTimer((FileState)state);

    public readonly FileKey Key = key;
    public readonly LeaseEngine Engine = engine;

    private Grant? _head;
    private int _strongGrants;
    private int _breaking;
    private OpenEntry[]? _opens;
    private int _openOwners;
    private BreakState? _breaks;

    /// <summary>Set, under the lock, when the state leaves the dictionary. A retired state is never used again.</summary>
    public bool Retired;

    /// <summary>Set by the idle sweep on an idle state, cleared by any use: a state still marked at the next sweep is retired.</summary>
    public bool SweepMarked;

    private struct OpenEntry
    {
        public Owner Owner;
        public int Readers;
        public int Writers;
    }

    private IOwnerMatcher Matcher => Engine.Matcher;

    /// <summary>
    /// Read without the lock by <see cref="LeaseEngine.BreakAsync"/>: a file with no grant has nothing to break, and a
    /// grant admitted a moment later is no different from one admitted just after the answer (as break_lease() in
    /// fs/locks.c checks for a lease context before taking any lock).
    /// </summary>
    public bool HasNoGrants => Volatile.Read(ref _head) is null;

    public bool IsIdle => _head is null && _openOwners == 0 && !(_breaks?.HasWaiters ?? false);

    // ---------------------------------------------------------------- expiry and timer

    /// <summary>Takes back every Breaking grant whose deadline has passed. Called first by every entry point (lazy expiry backs up the timer).</summary>
    public void Expire(ref Now now, ref Effects fx)
    {
        SweepMarked = false;
        if (_breaking == 0 || now.Value < _breaks!.NextDeadline)
            return;
        long next = long.MaxValue;
        for (var g = _head; g is not null; g = g.Next)
        {
            if (g.CurrentState != GrantState.Breaking)
                continue;
            if (g.DeadlineTimestamp <= now.Value)
                Apply(g, g.PendingTarget, ref fx);
            else if (g.DeadlineTimestamp < next)
                next = g.DeadlineTimestamp;
        }
        _breaks.NextDeadline = next;
    }

    /// <summary>Arms, moves or disarms the file's deadline timer for its earliest pending deadline. Free when the file has no break state.</summary>
    public void ArmTimer(ref Now now)
    {
        var breaks = _breaks;
        if (breaks is null)
            return;
        long due = _breaking > 0 ? breaks.NextDeadline : long.MaxValue;
        if (due == breaks.TimerDue || Engine.IsDisposed)
            return;
        breaks.TimerDue = due;
        if (due == long.MaxValue)
        {
            breaks.Timer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            return;
        }
        var delay = Engine.ToTimeSpanCeiling(Math.Max(0, due - now.Value));
        if (breaks.Timer is null)
            breaks.Timer = Engine.Time.CreateTimer(s_onTimer, this, delay, Timeout.InfiniteTimeSpan);
        else
            breaks.Timer.Change(delay, Timeout.InfiniteTimeSpan);
    }

    /// <summary>The timer fired: forget what it was armed for so <see cref="ArmTimer"/> arms it again.</summary>
    public void TimerFired()
    {
        if (_breaks is not null)
            _breaks.TimerDue = long.MaxValue;
    }

    /// <summary>
    /// One step of the idle sweep. Retires the state if it was idle at the previous sweep and still is, with its
    /// recall window over; drops a break state nothing needs any more. Returns true if the state stays idle
    /// (the sweep must come back for it).
    /// </summary>
    public bool Sweep(long now, out bool retired)
    {
        retired = false;
        var breaks = _breaks;
        if (breaks is not null && _breaking == 0 && !breaks.HasWaiters && breaks.RecallUntil <= now)
        {
            breaks.Timer?.Dispose();
            _breaks = breaks = null;
        }
        if (!IsIdle)
            return false;
        if (breaks is not null)
            return true; // recall window still open: keep the memory of the recall
        if (!SweepMarked)
        {
            SweepMarked = true;
            return true;
        }
        Retired = true;
        retired = true;
        return false;
    }

    // ---------------------------------------------------------------- grants

    /// <summary>Admits, upgrades or downgrades a grant. The authority has already said yes.</summary>
    public GrantResult Admit(in GrantRequest request, ref Now now, ref Effects fx)
    {
        Expire(ref now, ref fx);

        var existing = _head is null ? null : FindGrant(request.Owner, request.Kind);
        if (existing is not null)
        {
            switch (ConflictRules.ChangeOwnGrant(existing.CurrentMode, PendingBreak(existing), request.Mode))
            {
                case OwnChange.Keep:
                    break;
                case OwnChange.Weaken:
                    Weaken(existing, request.Mode, ref fx);
                    break;
                case OwnChange.Strengthen:
                    var upgrade = CheckAdmission(request, existing, ref now);
                    if (upgrade != GrantStatus.Granted)
                        return upgrade;
                    existing.CurrentMode = request.Mode;
                    _strongGrants++;
                    break;
                default:
                    return GrantStatus.BreakPending;
            }
            return new GrantResult(GrantStatus.Granted, existing);
        }

        var status = CheckAdmission(request, null, ref now);
        if (status != GrantStatus.Granted)
            return status;
        var grant = new Grant(this, request.Owner, request.Kind, request.Mode, request.Holder) { GrantedTimestamp = now.Value };
        Link(grant);
        if (IsStrong(request.Mode))
            _strongGrants++;
        Engine.Metrics.Moved(grant.Kind, GrantState.Released, GrantState.Active);
        fx.NewGrant = true;
        return new GrantResult(GrantStatus.Granted, grant);
    }

    private GrantStatus CheckAdmission(in GrantRequest request, Grant? except, ref Now now)
    {
        if (request.Kind == GrantKind.Delegation && _breaks is { RecallUntil: > 0 } breaks && breaks.RecallUntil > now.Value)
            return GrantStatus.RecentlyRecalled;

        if (request.Kind != GrantKind.Layout && _openOwners > 0)
        {
            int readers = 0, writers = 0;
            for (int i = 0; i < _openOwners; i++)
            {
                ref var open = ref _opens![i];
                if (Matcher.BreakerOwns(open.Owner, request.Owner))
                    continue; // the requester's own opens never stand in its way
                readers += open.Readers;
                writers += open.Writers;
            }
            if (ConflictRules.OpensForbid(request.Kind, request.Mode, readers, writers))
                return GrantStatus.ConflictingOpen;
        }

        // A Read or Shared request can only meet a conflict or a pending break if one of these counters says so.
        if (IsStrong(request.Mode) || _strongGrants > 0 || _breaking > 0)
        {
            for (var g = _head; g is not null; g = g.Next)
            {
                if (g == except || !g.IsLive)
                    continue;
                // fs/locks.c refuses a new lease while another is being broken: the breaker must see the file settle.
                // Said first because it is the more useful answer: the conflict is on its way out, so try later. The
                // requester's own Breaking grants count too (ConflictRules.BreakKeepsOut).
                if (g.CurrentState == GrantState.Breaking && ConflictRules.BreakKeepsOut(g.Kind, request.Kind))
                    return GrantStatus.BreakPending;
                if (Matcher.BreakerOwns(request.Owner, g.Owner))
                    continue;
                if (ConflictRules.GrantsConflict(request.Kind, request.Mode, g.Kind, g.CurrentMode))
                    return GrantStatus.ConflictingGrant;
            }
        }

        if (_breaks?.Waiters is { Count: > 0 } waiters)
        {
            foreach (var w in waiters)
            {
                // A node token recall keeps out the grants that use the rights it gives up (FileState.Tokens.cs).
                bool conflicts = w.TokenDrop == 0
                    ? ConflictRules.Classify(w.Operation, request.Kind, request.Mode) != Conflict.None
                    : (GrantUses(request.Kind, request.Mode) & w.TokenDrop) != 0;
                if (conflicts && !Matcher.BreakerOwns(w.Breaker, request.Owner))
                    return GrantStatus.BreakPending;
            }
        }
        return GrantStatus.Granted;
    }

    private Grant? FindGrant(Owner owner, GrantKind kind)
    {
        for (var g = _head; g is not null; g = g.Next)
        {
            if (g.Owner == owner && g.Kind == kind && g.IsLive)
                return g;
        }
        return null;
    }

    /// <summary>
    /// Weakens a grant by one step, by the rule of <see cref="ConflictRules.ChangeOwnGrant"/>: completes a pending
    /// downgrade break. Returns false if the grant is not live, or is being broken to something a downgrade does not
    /// answer (a revoke).
    /// </summary>
    public bool Downgrade(Grant grant, ref Now now, ref Effects fx)
    {
        Expire(ref now, ref fx);
        if (!grant.IsLive)
            return false;
        var weaker = ConflictRules.Weaker(grant.CurrentMode);
        switch (ConflictRules.ChangeOwnGrant(grant.CurrentMode, PendingBreak(grant), weaker))
        {
            case OwnChange.Keep:
                return true;
            case OwnChange.Weaken:
                Weaken(grant, weaker, ref fx);
                return true;
            default:
                return false;
        }
    }

    /// <summary>The break a grant is under: its target while Breaking, None otherwise.</summary>
    private static BreakTarget PendingBreak(Grant g) => g.CurrentState == GrantState.Breaking ? g.PendingTarget : BreakTarget.None;

    /// <summary>Weakens a live grant its holder asked to weaken (<see cref="OwnChange.Weaken"/>); a pending downgrade break is thereby answered.</summary>
    private void Weaken(Grant grant, GrantMode mode, ref Effects fx)
    {
        var oldMode = grant.CurrentMode;
        grant.CurrentMode = mode;
        _strongGrants--;
        if (grant.CurrentState == GrantState.Breaking)
        {
            // ChangeOwnGrant weakens a Breaking grant only to answer its pending downgrade.
            grant.CurrentState = GrantState.Active;
            grant.PendingTarget = BreakTarget.None;
            _breaking--;
            Engine.Metrics.Moved(grant.Kind, GrantState.Breaking, GrantState.Active);
        }
        GrantChanged(grant, oldMode, wasLive: true, ref fx);
    }

    /// <summary>Removes a grant. Returns whether it was live (so the authority must hear that it ended).</summary>
    public bool Release(Grant grant, ref Now now, ref Effects fx)
    {
        Expire(ref now, ref fx);
        if (grant.CurrentState == GrantState.Released)
            return false;
        bool wasLive = grant.IsLive;
        if (grant.CurrentState == GrantState.Breaking)
            _breaking--;
        if (wasLive && IsStrong(grant.CurrentMode))
            _strongGrants--;
        Engine.Metrics.Moved(grant.Kind, grant.CurrentState, GrantState.Released);
        grant.CurrentState = GrantState.Released;
        grant.PendingTarget = BreakTarget.None;
        Unlink(grant);
        GrantChanged(grant, grant.CurrentMode, wasLive, ref fx);
        return wasLive;
    }

    /// <summary>Carries out a break target on a grant by the engine's own hand: at the deadline, or at once when the break time is zero.</summary>
    private void Apply(Grant g, BreakTarget target, ref Effects fx)
    {
        var oldMode = g.CurrentMode;
        var oldState = g.CurrentState;
        bool wasLive = g.IsLive;
        if (g.CurrentState == GrantState.Breaking)
            _breaking--;
        if (IsStrong(oldMode))
            _strongGrants--;
        g.PendingTarget = BreakTarget.None;
        if (target == BreakTarget.Downgrade)
        {
            g.CurrentMode = ConflictRules.Weaker(oldMode);
            g.CurrentState = GrantState.Active;
        }
        else
        {
            g.CurrentState = GrantState.Revoked;
            fx.End(g);
        }
        Engine.Metrics.Moved(g.Kind, oldState, g.CurrentState);
        fx.Notify(g, target, expired: true, deadline: default);
        GrantChanged(g, oldMode, wasLive, ref fx);
    }

    private static bool IsStrong(GrantMode mode) => mode is GrantMode.Write or GrantMode.Exclusive;

    private void Link(Grant g)
    {
        g.Next = _head;
        if (_head is not null)
            _head.Previous = g;
        _head = g;
    }

    private void Unlink(Grant g)
    {
        if (g.Previous is null)
            _head = g.Next;
        else
            g.Previous.Next = g.Next;
        if (g.Next is not null)
            g.Next.Previous = g.Previous;
        g.Previous = g.Next = null;
    }

    // ---------------------------------------------------------------- breaking

    /// <summary>
    /// Starts breaking every live grant that <paramref name="op"/> by <paramref name="breaker"/> conflicts with, and
    /// returns how many still block it. Grants whose break time is zero are taken back here and now. Returns -1,
    /// breaking nothing, when an unbreakable grant (another owner's exclusive layout) makes the operation fail.
    /// <paramref name="maxBreakTicks"/> bounds every deadline involved (long.MaxValue: no bound): a new break gets the
    /// earlier of its kind's break time and the bound, a grant already Breaking is pulled in to now + the bound when that
    /// is earlier (never pushed out), and a bound of zero takes the grants back here and now.
    /// </summary>
    public int StartBreaks(FileOperation op, Owner breaker, long maxBreakTicks, ref Now now, ref Effects fx, out long earliestDeadline)
    {
        earliestDeadline = long.MaxValue;
        if (_head is null)
            return 0;

        // Look for an unbreakable conflict first, so a failing operation breaks nothing on its way out.
        for (var g = _head; g is not null; g = g.Next)
        {
            if (g.IsLive && ConflictRules.Classify(op, g.Kind, g.CurrentMode) == Conflict.Busy && !Matcher.BreakerOwns(breaker, g.Owner))
                return -1;
        }

        int remaining = 0;
        DateTimeOffset utcNow = default;
        for (var g = _head; g is not null; g = g.Next)
        {
            if (!g.IsLive)
                continue;
            var conflict = ConflictRules.Classify(op, g.Kind, g.CurrentMode);
            if (conflict == Conflict.None || Matcher.BreakerOwns(breaker, g.Owner))
                continue;
            var target = conflict == Conflict.Downgrade ? BreakTarget.Downgrade : BreakTarget.Revoke;
            if (BreakGrant(g, target, maxBreakTicks, ref now, ref fx, ref utcNow, ref earliestDeadline))
                remaining++;
        }
        return remaining;
    }

    /// <summary>
    /// Breaks one live grant towards <paramref name="target"/> (see <see cref="StartBreaks"/> for the bound). Returns
    /// false when it was taken back here and now (a break time of zero), true when it is Breaking and blocks the caller.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool BreakGrant(Grant g, BreakTarget target, long maxBreakTicks, ref Now now, ref Effects fx, ref DateTimeOffset utcNow, ref long earliestDeadline)
    {
        var breaks = _breaks ??= new BreakState();
        if (g.Kind == GrantKind.Delegation)
            breaks.RecallUntil = Math.Max(breaks.RecallUntil, now.Value + Engine.RecallWindowTicks);

        long breakTicks = Math.Min(Engine.BreakTicks(g.Kind), maxBreakTicks);
        if (breakTicks == 0)
        {
            // A break time of zero means "take it back at once", never "wait forever"; a grant already Breaking
            // towards a revoke is not let off with a downgrade.
            Apply(g, g.CurrentState == GrantState.Breaking && g.PendingTarget > target ? g.PendingTarget : target, ref fx);
            return false;
        }

        if (g.CurrentState == GrantState.Active)
        {
            g.CurrentState = GrantState.Breaking;
            Engine.Metrics.Moved(g.Kind, GrantState.Active, GrantState.Breaking);
            g.PendingTarget = target;
            g.DeadlineTimestamp = now.Value + breakTicks;
            if (_breaking++ == 0 || g.DeadlineTimestamp < breaks.NextDeadline)
                breaks.NextDeadline = g.DeadlineTimestamp;
            if (utcNow == default)
                utcNow = Engine.Time.GetUtcNow();
            fx.Notify(g, target, expired: false, utcNow + Engine.ToTimeSpanCeiling(breakTicks));
        }
        else
        {
            // Already Breaking: a breaker that cannot wait as long pulls the deadline in (never out).
            if (now.Value + breakTicks < g.DeadlineTimestamp)
            {
                g.DeadlineTimestamp = now.Value + breakTicks;
                if (g.DeadlineTimestamp < breaks.NextDeadline)
                    breaks.NextDeadline = g.DeadlineTimestamp;
            }
            if (target > g.PendingTarget)
            {
                // A pending downgrade meets a writer: escalate to a revoke, keeping the deadline already given.
                g.PendingTarget = target;
                if (utcNow == default)
                    utcNow = Engine.Time.GetUtcNow();
                fx.Notify(g, target, expired: false, utcNow + Engine.ToTimeSpanCeiling(g.DeadlineTimestamp - now.Value));
            }
        }
        if (g.DeadlineTimestamp < earliestDeadline)
            earliestDeadline = g.DeadlineTimestamp;
        return true;
    }

    public BreakWaiter Park(FileOperation op, Owner breaker, OpenAccess openToRegister, int remaining, bool holdsFile = false)
    {
        var waiter = new BreakWaiter(this, op, breaker, openToRegister, remaining, holdsFile);
        var breaks = _breaks ??= new BreakState();
        (breaks.Waiters ??= []).Add(waiter);
        return waiter;
    }

    /// <summary>Removes a waiter that gave up. Returns false if it was already released (a released change is ended only by <see cref="EndChange"/>).</summary>
    public bool Unpark(BreakWaiter waiter) => waiter.Remaining > 0 && _breaks?.Waiters is { } waiters && waiters.Remove(waiter);

    /// <summary>Ends a <see cref="FileChange"/>: its waiter stops keeping grants out.</summary>
    public bool EndChange(BreakWaiter waiter) => _breaks?.Waiters is { } waiters && waiters.Remove(waiter);

    /// <summary>Retires the state for disposal: hands back its waiters, and adds its live grants to <paramref name="dropped"/>.</summary>
    public List<BreakWaiter>? DetachAll(List<Grant> dropped)
    {
        var waiters = _breaks?.Waiters;
        _breaks?.Timer?.Dispose();
        _breaks = null;
        Retired = true;
        for (var g = _head; g is not null; g = g.Next)
        {
            if (g.IsLive)
                dropped.Add(g);
            Engine.Metrics.Moved(g.Kind, g.CurrentState, GrantState.Released);
            g.CurrentState = GrantState.Released;
        }
        return waiters;
    }

    /// <summary>
    /// A live grant changed (downgraded, revoked or released): release the waiters it no longer blocks. A waiter
    /// that registers an open gets the open in this same critical section.
    /// </summary>
    private void GrantChanged(Grant g, GrantMode oldMode, bool wasLive, ref Effects fx)
    {
        if (!wasLive || _breaks?.Waiters is not { Count: > 0 } waiters)
            return;
        for (int i = waiters.Count - 1; i >= 0; i--)
        {
            var w = waiters[i];
            bool before = Blocks(w, g.Kind, oldMode, g.Owner);
            bool after = g.IsLive && Blocks(w, g.Kind, g.CurrentMode, g.Owner);
            if (before && !after && --w.Remaining == 0)
            {
                if (!w.HoldsFile)
                    waiters.RemoveAt(i);
                if (w.OpenToRegister != 0)
                    AddOpen(w.Breaker, w.OpenToRegister);
                fx.Complete(w, BreakResult.Proceed);
            }
        }
    }

    private bool Blocks(BreakWaiter w, GrantKind kind, GrantMode mode, Owner holder)
    {
        if (w.TokenDrop != 0)
            return (GrantUses(kind, mode) & w.TokenDrop) != 0 && !Matcher.BreakerOwns(w.Breaker, holder);
        var conflict = ConflictRules.Classify(w.Operation, kind, mode);
        return conflict is Conflict.Downgrade or Conflict.Revoke && !Matcher.BreakerOwns(w.Breaker, holder);
    }

    // ---------------------------------------------------------------- opens

    public void AddOpen(Owner owner, OpenAccess access)
    {
        int i = FindOpen(owner);
        if (i < 0)
        {
            _opens ??= new OpenEntry[2];
            if (_openOwners == _opens.Length)
                Array.Resize(ref _opens, _opens.Length * 2);
            i = _openOwners++;
            _opens[i] = new OpenEntry { Owner = owner };
        }
        ref var entry = ref _opens![i];
        if ((access & OpenAccess.Read) != 0)
            entry.Readers++;
        if ((access & OpenAccess.Write) != 0)
            entry.Writers++;
    }

    /// <summary>Forgets one open. Returns false if no such open was registered.</summary>
    public bool RemoveOpen(Owner owner, OpenAccess access)
    {
        int i = FindOpen(owner);
        if (i < 0)
            return false;
        ref var entry = ref _opens![i];
        bool read = (access & OpenAccess.Read) != 0, write = (access & OpenAccess.Write) != 0;
        if ((read && entry.Readers == 0) || (write && entry.Writers == 0))
            return false;
        if (read)
            entry.Readers--;
        if (write)
            entry.Writers--;
        if (entry.Readers == 0 && entry.Writers == 0)
        {
            _opens[i] = _opens[--_openOwners];
            _opens[_openOwners] = default;
        }
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int FindOpen(Owner owner)
    {
        for (int i = 0; i < _openOwners; i++)
        {
            if (_opens![i].Owner == owner)
                return i;
        }
        return -1;
    }

    // ---------------------------------------------------------------- visibility

    public void AppendSnapshot(List<GrantSnapshot> grants, List<BreakerSnapshot> breakers, long now, DateTimeOffset utcNow)
    {
        var waiters = _breaks?.Waiters;
        int waiting = waiters?.Count ?? 0;
        for (var g = _head; g is not null; g = g.Next)
        {
            DateTimeOffset? deadline = g.CurrentState == GrantState.Breaking
                ? utcNow + Engine.ToTimeSpanCeiling(Math.Max(0, g.DeadlineTimestamp - now))
                : null;
            var granted = utcNow - Engine.ToTimeSpanCeiling(Math.Max(0, now - g.GrantedTimestamp));
            grants.Add(new GrantSnapshot(Key, g.Kind, g.CurrentMode, g.Owner, g.CurrentState, g.PendingTarget, deadline, waiting, granted));
        }
        if (waiters is not null)
        {
            foreach (var w in waiters)
                breakers.Add(new BreakerSnapshot(Key, w.Operation, w.Breaker, w.Remaining));
        }
    }
}
