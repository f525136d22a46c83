using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text;
using Leasehold.Testing;

namespace Leasehold.Engine.Tests.Stress;

/// <summary>One stress case: the engine's tunables, the owner matcher, how long to work and how many workers.</summary>
internal sealed record StressConfig(
    string Name,
    int Seed,
    IOwnerMatcher Matcher,
    TimeSpan LeaseBreakTime,
    TimeSpan DelegationBreakTime,
    TimeSpan LayoutBreakTime,
    TimeSpan RecallWindow,
    TimeSpan WorkTime,
    int Workers = 10,
    int Files = 4)
{
    public override string ToString() =>
        $"{Name} (seed {Seed}; lease/deleg/layout break {LeaseBreakTime.TotalMilliseconds}/{DelegationBreakTime.TotalMilliseconds}/" +
        $"{LayoutBreakTime.TotalMilliseconds} ms, recall window {RecallWindow.TotalMilliseconds} ms, {Workers} workers on {Files} files " +
        $"for {WorkTime.TotalSeconds} s; rerun with LEASEHOLD_STRESS_SEED={Seed})";
}

/// <summary>
/// Drives one engine, on the real clock, with many workers doing random grants, opens, breaks, releases, downgrades,
/// upgrades and cancellations on a few files, while a checker reads snapshots. Everything that looks wrong is recorded
/// as a violation (with the seed) rather than thrown, so one run reports every problem it saw.
/// </summary>
/// <remarks>
/// <para>What is checked, and where:</para>
/// <list type="bullet">
/// <item>Snapshots (<see cref="CheckSnapshot"/>, every few ms): no two live grants of different parties conflict; one
/// live grant per owner and kind; Breaking grants carry a deadline that is neither past (beyond the slack) nor further
/// than the kind's break time; every parked breaker is blocked by exactly the live grants the rules say, all of them
/// Breaking, and never by an unbreakable one.</item>
/// <item>Each call: non-blocking calls complete synchronously, WouldBlock carries a sane deadline, an awaited break
/// never answers WouldBlock and completes within the longest break time plus the slack; an open that proceeds meets no
/// other party's live grant it conflicts with; a grant that is granted meets no other party's open, held throughout the
/// call, that forbids it; a release leaves the grant Released; a revocation notice finds the grant revoked.</item>
/// <item>Pending awaits (<see cref="CheckPendingAwaits"/>): none is parked longer than the longest break time plus the slack.</item>
/// <item>Holder logs (<see cref="CheckBreakLogs"/>, at the end): every break ended (release, downgrade, or the engine's
/// own expiry) by its deadline plus the slack, and no expiry came before the deadline; no change a holder made to its
/// own grant (a second request, a downgrade) was accepted while a break it does not answer was pending.</item>
/// <item>The end (<see cref="DrainAsync"/>): workers stop in time, every grant is released and every open closed, the engine
/// forgets every file once the recall window has passed, and no timer is left alive.</item>
/// </list>
/// <para>Real time, real threads and <c>Task.Delay</c> are the point here, unlike the rest of the engine tests, which
/// move a <see cref="ManualTimeProvider"/>: the races being looked for exist only on a real clock.</para>
/// </remarks>
internal sealed class StressRun
{
    private static readonly TimeSpan IdleSweep = TimeSpan.FromMilliseconds(50);

    /// <summary>How late a deadline may be honoured on a busy two-core machine (thread-pool hops, timer granularity).</summary>
    public static readonly TimeSpan Slack = TimeSpan.FromMilliseconds(250);

    /// <summary>Clock disagreement tolerated between timestamps and wall time, and timer rounding to whole milliseconds.</summary>
    public static readonly TimeSpan Epsilon = TimeSpan.FromMilliseconds(5);

    private const int MaxViolationsKept = 200;

    private static readonly FileOperation[] s_operations = Enum.GetValues<FileOperation>();

    private readonly StressConfig _config;
    private readonly FileKey[] _files;
    private readonly long _start;
    private readonly ConcurrentQueue<string> _violations = new();
    private readonly ConcurrentDictionary<string, StrongBox<long>> _counters = new();
    private readonly ConcurrentDictionary<Grant, byte> _allGrants = new();
    private readonly ConcurrentDictionary<FileKey, ConcurrentDictionary<Grant, byte>> _unreleasedByFile = new();
    private readonly ConcurrentDictionary<FileKey, ConcurrentDictionary<OpenRecord, byte>> _opensByFile = new();
    private readonly ConcurrentDictionary<long, PendingAwait> _awaits = new();
    private readonly ConcurrentQueue<Task> _holderTasks = new();
    private readonly ConcurrentQueue<Grant> _leftBreaking = new();
    private int _violationCount;
    private long _sequence;
    private long _awaitIds;
    private volatile bool _disposeExpected;

    public StressRun(StressConfig config)
    {
        _config = config;
        _files = [.. Enumerable.Range(1, config.Files).Select(i => FileKey.From((ulong)i))];
        foreach (var file in _files)
        {
            _unreleasedByFile[file] = new();
            _opensByFile[file] = new();
        }
        Clock = new CountingTimeProvider(TimeProvider.System);
        var options = new LeaseEngineOptions
        {
            LeaseBreakTime = config.LeaseBreakTime,
            DelegationBreakTime = config.DelegationBreakTime,
            LayoutBreakTime = config.LayoutBreakTime,
            DelegationRecallWindow = config.RecallWindow,
            IdleSweepInterval = IdleSweep, // short, so the end-of-run check sees idle files go
        };
        Engine = new LeaseEngine(options, Clock, config.Matcher);
        MaxBreakTime = new[] { config.LeaseBreakTime, config.DelegationBreakTime, config.LayoutBreakTime }.Max();
        _start = Clock.GetTimestamp();
    }

    public StressConfig Config => _config;

    public LeaseEngine Engine { get; }

    public CountingTimeProvider Clock { get; }

    public TimeSpan MaxBreakTime { get; }

    public DateTimeOffset Now => Clock.GetUtcNow();

    public int ViolationCount => Volatile.Read(ref _violationCount);

    /// <summary>The longest time between two checker passes: a measure of how late the thread pool ran things.</summary>
    public TimeSpan MaxCheckerGap { get; private set; }

    /// <summary>From here on, ObjectDisposedException is an acceptable answer and ends a worker.</summary>
    public void ExpectDispose() => _disposeExpected = true;

    public TimeSpan BreakTime(GrantKind kind) => kind switch
    {
        GrantKind.Delegation => _config.DelegationBreakTime,
        GrantKind.Layout => _config.LayoutBreakTime,
        _ => _config.LeaseBreakTime,
    };

    public long Counter(string name) => _counters.TryGetValue(name, out var box) ? Interlocked.Read(ref box.Value) : 0;

    public void Count(string name) => Interlocked.Increment(ref _counters.GetOrAdd(name, static _ => new StrongBox<long>()).Value);

    public void Violation(string what)
    {
        if (Interlocked.Increment(ref _violationCount) <= MaxViolationsKept)
            _violations.Enqueue($"[{Clock.GetElapsedTime(_start).TotalMilliseconds,7:F1} ms] {what}");
    }

    public void Track(Task holderTask) => _holderTasks.Enqueue(holderTask);

    private long NextSequence() => Interlocked.Increment(ref _sequence);

    // ================================================================ workers

    public Task RunWorkersAsync(CancellationToken stop) =>
        Task.WhenAll(Enumerable.Range(0, _config.Workers).Select(i => Task.Run(() => WorkerAsync(i, stop))));

    private async Task WorkerAsync(int index, CancellationToken stop)
    {
        var random = new Random(unchecked((_config.Seed * 7919) + index));
        var grants = new List<(Grant Grant, long ReleaseAt)>();
        var opens = new List<(OpenRecord Open, long CloseAt)>();
        try
        {
            while (!stop.IsCancellationRequested)
            {
                FinishDue(grants, opens, Clock.GetTimestamp());
                int pick = random.Next(100);
                if (pick < 32)
                    await GrantStepAsync(random, grants, opens).ConfigureAwait(false);
                else if (pick < 55)
                    await OpenStepAsync(random, opens).ConfigureAwait(false);
                else if (pick < 75)
                    await BreakStepAsync(random).ConfigureAwait(false);
                else if (pick < 88)
                    await ChangeStepAsync(random, grants).ConfigureAwait(false);
                else
                    await Task.Delay(random.Next(1, 10), CancellationToken.None).ConfigureAwait(false);

                // Every iteration gives the pool back: calls that complete synchronously would otherwise spin a thread.
                if (random.Next(3) == 0)
                    await Task.Delay(1, CancellationToken.None).ConfigureAwait(false);
                else
                    await Task.Yield();
            }
        }
        catch (ObjectDisposedException) when (_disposeExpected && Engine.IsDisposed)
        {
            Count("worker.ended-by-dispose");
        }
        catch (Exception ex)
        {
            Violation($"worker {index} threw {ex}");
        }
        finally
        {
            // A client that goes away gives everything back.
            foreach (var (open, _) in opens)
                Close(open);
            foreach (var (grant, _) in grants)
            {
                // A grant being broken is left to the engine: see WaitForLeftBreakingAsync.
                if (!_disposeExpected && grant.State == GrantState.Breaking)
                    _leftBreaking.Enqueue(grant);
                else
                    Release(grant);
            }
        }
    }

    private void FinishDue(List<(Grant Grant, long ReleaseAt)> grants, List<(OpenRecord Open, long CloseAt)> opens, long now)
    {
        for (int i = grants.Count - 1; i >= 0; i--)
        {
            if (grants[i].ReleaseAt <= now)
            {
                Release(grants[i].Grant);
                grants.RemoveAt(i);
            }
        }
        for (int i = opens.Count - 1; i >= 0; i--)
        {
            if (opens[i].CloseAt <= now)
            {
                Close(opens[i].Open);
                opens.RemoveAt(i);
            }
        }
    }

    private long Later(Random random, int maxMilliseconds) =>
        Clock.GetTimestamp() + (long)(random.Next(0, maxMilliseconds) * (Clock.TimestampFrequency / 1000.0));

    private FileKey PickFile(Random random) => _files[random.Next(_files.Length)];

    /// <summary>
    /// Opens and breakers pick the last file a tenth as often as the others. Write leases need a file nobody else has
    /// open; on the busy files they are nearly always refused, and without them no break ever asks for a downgrade.
    /// (Grants on it also mostly go to one group: see <see cref="GrantStepAsync"/>.)
    /// </summary>
    private FileKey PickBusyFile(Random random) =>
        _files.Length > 1 && random.Next(10) != 0 ? _files[random.Next(_files.Length - 1)] : PickFile(random);

    /// <summary>Three groups of two owners each: with <see cref="OwnerMatchers.SameGroup"/> the two owners of a group are one party.</summary>
    private static Owner PickOwner(Random random, bool mayBeAnonymous)
    {
        if (mayBeAnonymous && random.Next(5) == 0)
            return Owner.Anonymous;
        return new Owner((ulong)random.Next(1, 4), (ulong)random.Next(1, 3));
    }

    private static HolderBehaviour PickBehaviour(Random random) => random.Next(100) switch
    {
        < 35 => HolderBehaviour.Prompt,
        < 55 => HolderBehaviour.Downgrader,
        < 80 => HolderBehaviour.Delayed,
        _ => HolderBehaviour.Silent,
    };

    private async Task GrantStepAsync(Random random, List<(Grant Grant, long ReleaseAt)> held, List<(OpenRecord Open, long CloseAt)> opens)
    {
        var file = PickFile(random);
        bool quiet = file == _files[^1];
        // On the quiet file most grants are leases of group 1, so write leases there are often granted and then broken.
        var kind = quiet && random.Next(2) == 0 ? GrantKind.Lease : (GrantKind)random.Next(3);
        var owner = quiet && random.Next(5) != 0 ? new Owner(1, (ulong)random.Next(1, 3)) : PickOwner(random, mayBeAnonymous: false);
        bool strong = random.Next(5) < 2;
        var mode = kind == GrantKind.Layout
            ? (strong ? GrantMode.Exclusive : GrantMode.Shared)
            : (strong ? GrantMode.Write : GrantMode.Read);
        var grant = await RequestGrantAsync(random, file, owner, kind, mode).ConfigureAwait(false);
        if (grant is null)
            return;
        if (!held.Exists(h => h.Grant == grant))
            held.Add((grant, Later(random, 150)));
        // A write lease is rare on files this busy; when one is had, often chase it with a reader at once, so that
        // downgrade breaks (and their escalation by later writers) are exercised as much as revocations.
        if (grant.Kind == GrantKind.Lease && mode == GrantMode.Write && random.Next(4) != 0)
            await OpenStepAsync(random, opens, grant.File, OpenAccess.Read).ConfigureAwait(false);
    }

    private async Task<Grant?> RequestGrantAsync(Random random, FileKey file, Owner owner, GrantKind kind, GrantMode mode)
    {
        var holder = new StressHolder(this, PickBehaviour(random), random.Next());
        var started = Now;
        long before = NextSequence();
        var result = await Engine.GrantAsync(new GrantRequest(file, owner, kind, mode, holder)).ConfigureAwait(false);
        long after = NextSequence();
        Count("grant." + result.Status);
        if (result.IsGranted)
            Count($"granted.{kind}.{mode}");
        if (!result.IsGranted)
        {
            if (result.Grant is not null)
                Violation($"{kind} {mode} for {owner} on {file} was refused ({result.Status}) but came with a grant");
            return null;
        }
        var grant = result.Grant;
        if (grant is null)
        {
            Violation($"{kind} {mode} for {owner} on {file} was granted without a grant");
            return null;
        }
        if (grant.File != file || grant.Owner != owner || grant.Kind != kind)
            Violation($"asked for {kind} {mode} for {owner} on {file}, got {grant}");
        if (grant.Holder is not StressHolder)
            Violation($"{grant} has a holder the test never gave");
        if (_allGrants.TryAdd(grant, 0))
            _unreleasedByFile[file].TryAdd(grant, 0); // (another worker of the same owner may have been handed it first, so its holder need not be ours)
        // A grant made by this call carries this call's holder; any other is the owner's existing grant, which the
        // request kept, weakened (answering a Downgrade break) or strengthened.
        if (grant.Holder != holder)
            ((StressHolder)grant.Holder).RecordChange(mode, started);
        CheckGrantAgainstOpens(file, owner, kind, mode, before, after);
        return grant;
    }

    private Task OpenStepAsync(Random random, List<(OpenRecord Open, long CloseAt)> held) =>
        OpenStepAsync(random, held, PickBusyFile(random), (OpenAccess)random.Next(1, 4));

    private async Task OpenStepAsync(Random random, List<(OpenRecord Open, long CloseAt)> held, FileKey file, OpenAccess access)
    {
        var owner = PickOwner(random, mayBeAnonymous: true);
        string what = $"open {access} of {file} by {owner}";
        BreakResult? result = random.Next(2) == 0
            ? await RetryAsync(what, random, () => Engine.OpenAsync(file, owner, access, BreakMode.NonBlocking)).ConfigureAwait(false)
            : await AwaitAsync(what, random, ct => Engine.OpenAsync(file, owner, access, BreakMode.Await, ct)).ConfigureAwait(false);
        if (result is not { } r)
            return;
        if (r.Status != BreakStatus.Proceed)
        {
            Violation($"{what} answered {r.Status}; an open only proceeds or waits");
            return;
        }
        var open = new OpenRecord(file, owner, access, NextSequence());
        _opensByFile[file].TryAdd(open, 0);
        held.Add((open, Later(random, 60)));
        CheckOpenAgainstGrants(open);
    }

    private async Task BreakStepAsync(Random random)
    {
        var file = PickBusyFile(random);
        var op = s_operations[random.Next(s_operations.Length)];
        var breaker = PickOwner(random, mayBeAnonymous: true);
        string what = $"{op} of {file} by {breaker}";
        BreakResult? result = random.Next(2) == 0
            ? await RetryAsync(what, random, () => Engine.BreakAsync(file, op, breaker, BreakMode.NonBlocking)).ConfigureAwait(false)
            : await AwaitAsync(what, random, ct => Engine.BreakAsync(file, op, breaker, BreakMode.Await, ct)).ConfigureAwait(false);
        if (result is { Status: BreakStatus.LayoutBusy } && op is not (FileOperation.Truncate or FileOperation.LayoutChange or FileOperation.SpaceChange))
            Violation($"{what} answered LayoutBusy, but only truncates and layout changes meet exclusive layouts");
    }

    private async Task ChangeStepAsync(Random random, List<(Grant Grant, long ReleaseAt)> held)
    {
        if (held.Count == 0)
            return;
        var (grant, _) = held[random.Next(held.Count)];
        if (!StressOracle.IsLive(grant.State))
            return;
        if (random.Next(2) == 0)
        {
            if (Downgrade(grant))
                Count("downgrade.done");
            return;
        }
        // Ask again for the stronger mode: an upgrade of the same grant if it is still live, else a new grant.
        var stronger = grant.Kind == GrantKind.Layout ? GrantMode.Exclusive : GrantMode.Write;
        var again = await RequestGrantAsync(random, grant.File, grant.Owner, grant.Kind, stronger).ConfigureAwait(false);
        if (again is not null && again != grant && !held.Exists(h => h.Grant == again))
            held.Add((again, Later(random, 150)));
    }

    // ================================================================ the two ways of breaking

    /// <summary>NonBlocking: must answer at once; on WouldBlock wait a little (never past the deadline it gave) and try again.</summary>
    private async Task<BreakResult?> RetryAsync(string what, Random random, Func<ValueTask<BreakResult>> call)
    {
        for (int attempt = 0; attempt < 8; attempt++)
        {
            var before = Now;
            var pending = call();
            if (!pending.IsCompleted)
            {
                Violation($"non-blocking {what} did not complete synchronously");
                await pending.ConfigureAwait(false);
                return null;
            }
            var result = pending.Result;
            if (result.Status != BreakStatus.WouldBlock)
            {
                Count("nonblocking." + result.Status);
                return result;
            }
            Count("nonblocking.WouldBlock");
            var after = Now;
            if (result.Deadline is not { } deadline)
            {
                Violation($"non-blocking {what} would block but gave no deadline");
                return null;
            }
            if (deadline < before - Epsilon || deadline > after + MaxBreakTime + Epsilon)
                Violation($"non-blocking {what} would block until {deadline:O}, outside [{before:O}, now + longest break time]");
            var wait = TimeSpan.FromMilliseconds(random.Next(2, 30));
            var untilDeadline = deadline - Now;
            if (untilDeadline < wait)
                wait = untilDeadline < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : untilDeadline;
            await Task.Delay(wait, CancellationToken.None).ConfigureAwait(false);
        }
        Count("nonblocking.gave-up");
        return null;
    }

    /// <summary>Await: with no token, a token that fires after a random while, or one cancelled before the call.</summary>
    private async Task<BreakResult?> AwaitAsync(string what, Random random, Func<CancellationToken, ValueTask<BreakResult>> call)
    {
        using var cts = new CancellationTokenSource();
        int style = random.Next(6);
        if (style == 0)
            cts.Cancel();
        else if (style <= 3)
            cts.CancelAfter(random.Next(0, 120));
        var pending = new PendingAwait(what, Clock.GetTimestamp());
        long id = Interlocked.Increment(ref _awaitIds);
        _awaits[id] = pending;
        try
        {
            var result = await call(cts.Token).ConfigureAwait(false);
            var elapsed = Clock.GetElapsedTime(pending.Started);
            if (result.Status == BreakStatus.WouldBlock)
                Violation($"awaited {what} answered WouldBlock");
            if (elapsed > MaxBreakTime + Slack)
                Violation($"awaited {what} took {elapsed.TotalMilliseconds:F0} ms, more than the longest break time plus slack");
            Count(elapsed > TimeSpan.FromMilliseconds(2) ? "await.waited." + result.Status : "await.at-once." + result.Status);
            return result;
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            Count(style == 0 ? "await.cancelled-before" : "await.cancelled");
            return null;
        }
        catch (ObjectDisposedException) when (_disposeExpected && Engine.IsDisposed)
        {
            Count("await.disposed");
            throw;
        }
        finally
        {
            _awaits.TryRemove(id, out _);
        }
    }

    // ================================================================ giving back

    /// <summary><see cref="LeaseEngine.Downgrade"/>, logged on the grant's holder when the engine says yes.</summary>
    public bool Downgrade(Grant grant)
    {
        var started = Now;
        if (!Engine.Downgrade(grant))
        {
            if (grant.State == GrantState.Breaking)
                Count("downgrade.refused-while-breaking"); // (or it was taken back a moment later; either way not a yes)
            return false;
        }
        ((StressHolder)grant.Holder).RecordChange(StressOracle.WeakMode(grant.Kind), started);
        return true;
    }

    public void Release(Grant grant)
    {
        Engine.Release(grant);
        ((StressHolder)grant.Holder).Record(HolderEventKind.Released);
        _unreleasedByFile[grant.File].TryRemove(grant, out _);
        if (grant.State != GrantState.Released && !Engine.IsDisposed)
            Violation($"{grant} is not Released after Release");
    }

    private void Close(OpenRecord open)
    {
        // Marked closing before the call: from here on the open may be gone, so grants may not be judged against it.
        Interlocked.Exchange(ref open.ClosingSequence, NextSequence());
        _opensByFile[open.File].TryRemove(open, out _);
        try
        {
            Engine.Close(open.File, open.Owner, open.Access);
        }
        catch (Exception ex)
        {
            Violation($"Close({open.File}, {open.Owner}, {open.Access}) threw {ex.GetType().Name}: {ex.Message}" +
                (Engine.IsDisposed ? " (the engine was being disposed)" : ""));
        }
    }

    // ================================================================ checks on each call

    /// <summary>Right after an open proceeds, no live grant of another party may conflict with it: upgrades and new grants are refused while it stays.</summary>
    private void CheckOpenAgainstGrants(OpenRecord open)
    {
        var op = StressOracle.OperationFor(open.Access);
        foreach (var (grant, _) in _unreleasedByFile[open.File])
        {
            var state = grant.State;
            var mode = grant.Mode;
            if (!StressOracle.IsLive(state) || _config.Matcher.BreakerOwns(open.Owner, grant.Owner))
                continue;
            if (StressOracle.NeededFor(op, grant.Kind, mode) != Needed.Nothing)
                Violation($"open {open.Access} of {open.File} by {open.Owner} proceeded while {grant.Kind} {mode} of {grant.Owner} is {state}");
        }
    }

    /// <summary>A grant just given must not be forbidden by another party's open that was registered before the call and not closed until after it.</summary>
    private void CheckGrantAgainstOpens(FileKey file, Owner owner, GrantKind kind, GrantMode mode, long before, long after)
    {
        foreach (var (open, _) in _opensByFile[file])
        {
            long closing = Interlocked.Read(ref open.ClosingSequence);
            if (open.ConfirmedSequence > before || (closing != 0 && closing < after))
                continue;
            if (_config.Matcher.BreakerOwns(open.Owner, owner))
                continue;
            if (StressOracle.OpenForbids(kind, mode, open.Access))
                Violation($"{kind} {mode} granted to {owner} on {file} while {open.Owner} has it open for {open.Access}");
        }
    }

    // ================================================================ the concurrent checker

    public async Task CheckLoopAsync(CancellationToken stop)
    {
        try
        {
            long last = Clock.GetTimestamp();
            while (!stop.IsCancellationRequested)
            {
                // The checker asks for 10 ms naps; a much longer gap means the thread pool itself was stalled.
                var gap = Clock.GetElapsedTime(last);
                if (gap > MaxCheckerGap)
                    MaxCheckerGap = gap;
                last = Clock.GetTimestamp();
                CheckSnapshot();
                CheckPendingAwaits();
                Count("checker.pass");
                await Task.Delay(10, CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (ObjectDisposedException) when (_disposeExpected && Engine.IsDisposed)
        {
        }
        catch (Exception ex)
        {
            Violation($"checker threw {ex}");
        }
    }

    public void CheckSnapshot()
    {
        var before = Now;
        var snapshot = Engine.Snapshot();
        var after = Now;
        var breakersByFile = snapshot.Breakers.ToLookup(b => b.File);
        foreach (var fileGrants in snapshot.Grants.GroupBy(g => g.File))
        {
            var file = fileGrants.Key;
            var grants = fileGrants.ToList();
            var breakers = breakersByFile[file].ToList();
            foreach (var g in grants)
                CheckGrantSnapshot(g, breakers.Count, before, after);

            var live = grants.Where(g => StressOracle.IsLive(g.State)).ToList();
            for (int i = 0; i < live.Count; i++)
            {
                for (int j = i + 1; j < live.Count; j++)
                {
                    var (a, b) = (live[i], live[j]);
                    if (a.Holder == b.Holder && a.Kind == b.Kind)
                        Violation($"two live {a.Kind} grants of {a.Holder} on {file}: {a.Mode} {a.State} and {b.Mode} {b.State}");
                    else if (!StressOracle.SameParty(_config.Matcher, a.Holder, b.Holder)
                             && StressOracle.GrantsConflict(a.Kind, a.Mode, b.Kind, b.Mode))
                        Violation($"conflicting live grants on {file}: {Describe(a)} and {Describe(b)}");
                }
            }
            foreach (var breaker in breakers)
                CheckBreakerSnapshot(breaker, live);
        }
        foreach (var breaker in snapshot.Breakers)
        {
            if (!snapshot.Grants.Any(g => g.File == breaker.File))
                Violation($"{breaker.Operation} of {breaker.File} by {breaker.Breaker} is parked on a file with no grants (blocked by {breaker.BlockedBy}): it can never be released");
        }
    }

    private void CheckGrantSnapshot(GrantSnapshot g, int breakersOnFile, DateTimeOffset before, DateTimeOffset after)
    {
        bool validMode = g.Kind == GrantKind.Layout ? g.Mode is GrantMode.Shared or GrantMode.Exclusive : g.Mode is GrantMode.Read or GrantMode.Write;
        if (!validMode)
            Violation($"{Describe(g)} has a mode its kind cannot have");
        if (g.WaitingBreakers != breakersOnFile)
            Violation($"{Describe(g)} says {g.WaitingBreakers} breakers wait on the file, the snapshot lists {breakersOnFile}");
        switch (g.State)
        {
            case GrantState.Breaking:
                if (g.PendingBreak == BreakTarget.None || g.Deadline is not { } deadline)
                {
                    Violation($"{Describe(g)} is Breaking without a target or deadline");
                    return;
                }
                if (deadline < before - Slack)
                    Violation($"{Describe(g)} is still Breaking {(before - deadline).TotalMilliseconds:F0} ms after its deadline");
                if (deadline > after + BreakTime(g.Kind) + Epsilon)
                    Violation($"{Describe(g)} has a deadline further away than the {g.Kind} break time");
                break;
            case GrantState.Active or GrantState.Revoked:
                if (g.PendingBreak != BreakTarget.None || g.Deadline is not null)
                    Violation($"{Describe(g)} is {g.State} but carries a pending break or deadline");
                break;
            default:
                Violation($"{Describe(g)} is listed though {g.State}");
                break;
        }
    }

    /// <summary>A parked breaker is blocked by exactly the live grants of other parties its operation must break, and each of those is being broken.</summary>
    private void CheckBreakerSnapshot(BreakerSnapshot breaker, List<GrantSnapshot> live)
    {
        int blocking = 0;
        foreach (var g in live)
        {
            if (_config.Matcher.BreakerOwns(breaker.Breaker, g.Holder))
                continue;
            var needed = StressOracle.NeededFor(breaker.Operation, g.Kind, g.Mode);
            if (needed == Needed.Nothing)
                continue;
            if (needed == Needed.Unbreakable)
            {
                Violation($"{breaker.Operation} of {breaker.File} by {breaker.Breaker} is parked while {Describe(g)} makes it fail");
                continue;
            }
            blocking++;
            var pending = needed == Needed.Revoke ? BreakTarget.Revoke : BreakTarget.Downgrade;
            if (g.State != GrantState.Breaking || g.PendingBreak < pending)
                Violation($"{breaker.Operation} of {breaker.File} by {breaker.Breaker} waits on {Describe(g)}, which is not being broken to {pending}");
        }
        if (breaker.BlockedBy != blocking || blocking == 0)
            Violation($"{breaker.Operation} of {breaker.File} by {breaker.Breaker} counts {breaker.BlockedBy} blocking grants; the snapshot shows {blocking}");
    }

    public void CheckPendingAwaits()
    {
        foreach (var (_, pending) in _awaits)
        {
            var elapsed = Clock.GetElapsedTime(pending.Started);
            if (elapsed > MaxBreakTime + Slack && Interlocked.Exchange(ref pending.Reported, 1) == 0)
                Violation($"awaited {pending.What} has been parked {elapsed.TotalMilliseconds:F0} ms, more than the longest break time plus slack");
        }
    }

    private static string Describe(GrantSnapshot g) =>
        $"{g.Kind} {g.Mode} of {g.Holder} on {g.File} ({g.State}{(g.State == GrantState.Breaking ? $" to {g.PendingBreak} by {g.Deadline:HH:mm:ss.fff}" : "")})";

    // ================================================================ the end

    /// <summary>
    /// The workers left the grants that were being broken when they stopped, and the checker has stopped too, so no
    /// caller is left to expire them lazily: only the file timers can end these breaks (short of a holder's own late
    /// answer). Each must leave Breaking within the longest break time plus the slack. Then they are released.
    /// </summary>
    public async Task WaitForLeftBreakingAsync()
    {
        var left = _leftBreaking.ToArray();
        Count("drain.left-breaking", left.Length);
        var bound = MaxBreakTime + Slack;
        long giveUp = Clock.GetTimestamp() + (long)(bound.TotalSeconds * Clock.TimestampFrequency);
        while (left.Any(g => g.State == GrantState.Breaking) && Clock.GetTimestamp() < giveUp)
            await Task.Delay(5, CancellationToken.None).ConfigureAwait(false); // read without calling the engine, so nothing expires lazily
        foreach (var grant in left)
        {
            if (grant.State == GrantState.Breaking)
                Violation($"{grant} is still Breaking {bound.TotalMilliseconds} ms after the workers stopped: its file timer never ended the break");
            Release(grant);
        }
    }

    /// <summary>
    /// On the busy files nearly every call expires overdue breaks lazily, and so does the checker's snapshot, which
    /// hides a file timer that was never armed. So, once the workers and the checker have stopped: for each kind, one
    /// awaited and one non-blocking truncate, each on a file of its own, against a holder that never answers. Nothing
    /// else calls the engine about those files, so only their timers can end the breaks, within the break time plus the slack.
    /// </summary>
    public Task CheckQuietBreaksAsync()
    {
        var checks = new List<Task>();
        ulong key = 1000;
        foreach (var kind in new[] { GrantKind.Lease, GrantKind.Delegation, GrantKind.Layout })
        {
            checks.Add(QuietBreakAsync(FileKey.From(key++), kind, BreakMode.Await));
            checks.Add(QuietBreakAsync(FileKey.From(key++), kind, BreakMode.NonBlocking));
        }
        return Task.WhenAll(checks);
    }

    private async Task QuietBreakAsync(FileKey file, GrantKind kind, BreakMode mode)
    {
        var grantMode = kind == GrantKind.Layout ? GrantMode.Shared : GrantMode.Write; // an exclusive layout would make the truncate fail
        var holder = new StressHolder(this, HolderBehaviour.Silent, 0);
        var result = await Engine.GrantAsync(new GrantRequest(file, new Owner(7, 1), kind, grantMode, holder)).ConfigureAwait(false);
        if (result.Grant is not { } grant)
        {
            Violation($"quiet {kind} {grantMode} on {file} was refused: {result.Status}");
            return;
        }
        _unreleasedByFile.TryAdd(file, new());
        _allGrants.TryAdd(grant, 0);
        _unreleasedByFile[file].TryAdd(grant, 0);
        var bound = BreakTime(kind) + Slack;
        long started = Clock.GetTimestamp();
        var pending = Engine.BreakAsync(file, FileOperation.Truncate, new Owner(8, 1), mode).AsTask();
        string what = $"a quiet {mode} truncate of {file} against a silent {kind}";
        if (mode == BreakMode.Await)
        {
            try
            {
                var done = await pending.WaitAsync(bound + TimeSpan.FromSeconds(1)).ConfigureAwait(false);
                if (done.Status != BreakStatus.Proceed)
                    Violation($"{what} answered {done.Status}");
            }
            catch (TimeoutException)
            {
                Violation($"{what} never completed: nothing but the file timer could release it");
            }
        }
        else
        {
            var done = await pending.ConfigureAwait(false);
            if (done.Status != (BreakTime(kind) == TimeSpan.Zero ? BreakStatus.Proceed : BreakStatus.WouldBlock))
                Violation($"{what} answered {done.Status}");
            while (grant.State == GrantState.Breaking && Clock.GetElapsedTime(started) < bound + TimeSpan.FromSeconds(1))
                await Task.Delay(5, CancellationToken.None).ConfigureAwait(false); // watch without calling the engine
        }
        var elapsed = Clock.GetElapsedTime(started);
        if (elapsed > bound)
            Violation($"{what} ended after {elapsed.TotalMilliseconds:F0} ms, more than the break time plus slack");
        Count("quiet.checked");
        Release(grant);
    }

    /// <summary>Waits for the holders' delayed answers to finish, and reports any that failed.</summary>
    public async Task DrainHolderTasksAsync(TimeSpan bound)
    {
        var tasks = _holderTasks.ToArray();
        try
        {
            await Task.WhenAll(tasks).WaitAsync(bound).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Violation($"{tasks.Count(t => !t.IsCompleted)} holder answers still running after {bound.TotalSeconds} s");
        }
        catch (Exception)
        {
            foreach (var t in tasks.Where(t => t.IsFaulted))
                Violation($"a holder's delayed answer failed: {t.Exception!.InnerException}");
        }
    }

    /// <summary>
    /// After the workers stopped: every grant must be released (the workers and holders give everything back), then the
    /// engine must forget every file once the recall window has passed, with no timer alive and no breaker parked.
    /// </summary>
    public async Task DrainAsync()
    {
        foreach (var (grant, _) in _allGrants)
        {
            if (grant.State != GrantState.Released)
            {
                Violation($"{grant} was never released by the test's workers or holders");
                Release(grant);
            }
        }
        foreach (var (file, opens) in _opensByFile)
        {
            if (!opens.IsEmpty)
                Violation($"{opens.Count} opens of {file} were never closed by the test's workers");
        }
        if (!_awaits.IsEmpty)
            Violation($"{_awaits.Count} awaited breaks still pending after the workers stopped");

        // Idle file states go at the second sweep after they fall idle; the engine keeps its one sweep timer (disarmed).
        var bound = _config.RecallWindow + MaxBreakTime + 2 * IdleSweep + TimeSpan.FromSeconds(2);
        long giveUp = Clock.GetTimestamp() + (long)(bound.TotalSeconds * Clock.TimestampFrequency);
        while ((Engine.TrackedFiles != 0 || Clock.LiveTimers > 1) && Clock.GetTimestamp() < giveUp)
            await Task.Delay(10, CancellationToken.None).ConfigureAwait(false);
        if (Engine.TrackedFiles != 0 || Clock.LiveTimers > 1)
        {
            var snapshot = Engine.Snapshot();
            Violation($"{bound.TotalSeconds} s after everything was given back the engine still tracks {Engine.TrackedFiles} files with " +
                $"{Clock.LiveTimers} live timers; snapshot: {snapshot.Grants.Count} grants [{string.Join("; ", snapshot.Grants.Take(5).Select(Describe))}], " +
                $"{snapshot.Breakers.Count} breakers [{string.Join("; ", snapshot.Breakers.Take(5))}]");
        }
        var final = Engine.Snapshot();
        if (final.Grants.Count != 0 || final.Breakers.Count != 0)
            Violation($"the final snapshot still lists {final.Grants.Count} grants and {final.Breakers.Count} breakers");
    }

    /// <summary>
    /// Every break a holder heard of ended by its deadline plus the slack: the holder (or its worker) released or
    /// downgraded the grant in time, or the engine took it back itself, and never before the deadline. Run once no
    /// notice can still be on its way (after <see cref="LeaseEngine.DisposeAsync"/>).
    /// </summary>
    public void CheckBreakLogs(DateTimeOffset? disposedAt = null)
    {
        int checkedBreaks = 0, checkedChanges = 0;
        foreach (var (grant, _) in _allGrants)
        {
            var events = ((StressHolder)grant.Holder).Events;
            var breakTime = BreakTime(grant.Kind);
            foreach (var e in events.Where(e => e.Kind == HolderEventKind.Expired))
            {
                if (breakTime == TimeSpan.Zero)
                    continue; // taken back at once, with no notice first
                if (!events.Any(b => b.Kind == HolderEventKind.Break && e.At >= b.Deadline - Epsilon && e.At <= b.Deadline + Slack))
                    Violation($"{grant}: the engine applied {e.Target} at {e.At:HH:mm:ss.fff}, matching no break deadline within [-{Epsilon.TotalMilliseconds}, +{Slack.TotalMilliseconds}] ms " +
                        $"(deadlines: {string.Join(", ", events.Where(b => b.Kind == HolderEventKind.Break).Select(b => b.Deadline.ToString("HH:mm:ss.fff")))})");
            }
            foreach (var b in events.Where(e => e.Kind == HolderEventKind.Break))
            {
                var limit = b.Deadline + Slack;
                if (disposedAt is { } disposed && limit > disposed)
                    continue; // the engine went away before this break had to end
                checkedBreaks++;
                bool ended = events.Any(e => e.Kind switch
                {
                    HolderEventKind.Released => e.At <= limit,
                    HolderEventKind.Expired => e.At >= b.Deadline - Epsilon && e.At <= limit && (b.Target == BreakTarget.Downgrade || e.Target == BreakTarget.Revoke),
                    HolderEventKind.Changed => b.Target == BreakTarget.Downgrade && e.Mode == StressOracle.WeakMode(grant.Kind)
                        && e.At <= limit && e.At >= b.Deadline - breakTime - Epsilon,
                    _ => false,
                });
                if (!ended)
                    Violation($"{grant}: the break to {b.Target} with deadline {b.Deadline:HH:mm:ss.fff} did not end by the deadline plus {Slack.TotalMilliseconds} ms " +
                        $"(log: {string.Join(", ", events.Select(e => $"{e.Kind}/{e.Target}@{e.At:HH:mm:ss.fff}"))})");
            }
            checkedChanges += CheckChangesWhileBreaking(grant, events, breakTime);
        }
        Count("breaks.checked", checkedBreaks);
        Count("changes.checked-while-breaking", checkedChanges);
    }

    /// <summary>
    /// No change the holder made to its own grant was accepted while a break it does not answer was certainly pending
    /// (<see cref="StressOracle.HolderMayChange"/>). A break is certainly pending during a change when its notice was
    /// heard before the change began (the engine decides a break before it queues the notice) and the change was
    /// answered before the break's deadline (so the engine cannot have applied it yet). A revoke ends only by release or
    /// expiry, which kill the grant; a downgrade may also have been answered, so a downgrade break is judged only when
    /// no other accepted weakening of the grant follows the break's start. The break started at its deadline less the
    /// break time, which may be before its notice was heard: the notice is queued, and another call of the same owner
    /// can weaken the grant (answering the break) and strengthen it again before the holder hears it.
    /// Returns how many (change, break) pairs were judged.
    /// </summary>
    private int CheckChangesWhileBreaking(Grant grant, IReadOnlyList<HolderEvent> events, TimeSpan breakTime)
    {
        int judged = 0;
        var weak = StressOracle.WeakMode(grant.Kind);
        for (int i = 0; i < events.Count; i++)
        {
            var c = events[i];
            if (c.Kind != HolderEventKind.Changed)
                continue;
            foreach (var b in events)
            {
                if (b.Kind != HolderEventKind.Break || b.At >= c.Started || c.At >= b.Deadline - Epsilon)
                    continue;
                if (b.Target == BreakTarget.Downgrade
                    && events.Where((o, j) => j != i && o.Kind == HolderEventKind.Changed && o.Mode == weak && o.At >= b.Deadline - breakTime - Epsilon).Any())
                    continue;
                judged++;
                if (!StressOracle.HolderMayChange(b.Target, grant.Kind, c.Mode))
                    Violation($"{grant}: its holder was granted {c.Mode} (asked at {c.Started:HH:mm:ss.fff}, answered at {c.At:HH:mm:ss.fff}) " +
                        $"while a break to {b.Target} heard at {b.At:HH:mm:ss.fff} was pending until {b.Deadline:HH:mm:ss.fff}");
            }
        }
        return judged;
    }

    private void Count(string name, long amount) => Interlocked.Add(ref _counters.GetOrAdd(name, static _ => new StrongBox<long>()).Value, amount);

    public string Report()
    {
        var text = new StringBuilder();
        text.AppendLine(_config.ToString());
        text.AppendLine($"{ViolationCount} violation(s){(ViolationCount > MaxViolationsKept ? $", first {MaxViolationsKept} kept" : "")}:");
        foreach (var v in _violations.Take(40))
            text.AppendLine("  " + v);
        text.AppendLine($"longest gap between checker passes {MaxCheckerGap.TotalMilliseconds:F0} ms (thread-pool lateness; pool threads now {ThreadPool.ThreadCount})");
        text.AppendLine($"timers created {Clock.TimersCreated}, disposed {Clock.TimersDisposed}, changed after dispose {Clock.ChangesAfterDispose}; grants made {_allGrants.Count}");
        text.AppendLine("counters: " + string.Join(", ", _counters.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Key}={c.Value.Value}")));
        return text.ToString();
    }

    private sealed class PendingAwait(string what, long started)
    {
        public string What { get; } = what;

        public long Started { get; } = started;

        public int Reported;
    }
}

/// <summary>An open the engine confirmed; <see cref="ClosingSequence"/> is set just before it is closed.</summary>
internal sealed class OpenRecord(FileKey file, Owner owner, OpenAccess access, long confirmedSequence)
{
    public FileKey File { get; } = file;

    public Owner Owner { get; } = owner;

    public OpenAccess Access { get; } = access;

    public long ConfirmedSequence { get; } = confirmedSequence;

    public long ClosingSequence;
}
