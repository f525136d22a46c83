namespace Leasehold.Engine;

// The engine's side of cluster node tokens (see TokenRights and IFileTokens). Each FileState caches the rights the
// node holds on the file; every entry point checks them under the file lock and, lacking them, asks IFileTokens
// outside the lock and tries again. A single server has no IFileTokens and never reaches any of this.
public sealed partial class LeaseEngine
{
    /// <summary>
    /// How many times one call asks <see cref="IFileTokens"/> before it gives up (WouldBlock, RefusedByAuthority): a
    /// right taken again by another node's recall between "held" and the retry must not make a call spin.
    /// </summary>
    private const int MaxTokenRounds = 8;

    private long _tokenGeneration;

    /// <summary>
    /// The fence generation. <see cref="FenceTokens"/> increments it; a <see cref="SetTokenRights"/> carrying an older
    /// generation changes nothing, so an acquisition that raced with a fence cannot bring back rights the fence took.
    /// </summary>
    public long TokenGeneration => Volatile.Read(ref _tokenGeneration);

    /// <summary>
    /// Records that this node now holds <paramref name="rights"/> (the whole set, not an addition) on <paramref name="file"/>.
    /// Called by the cluster layer once the cluster has granted them, before it answers <see cref="TokenAnswer.Held"/>.
    /// Returns false, changing nothing, when <paramref name="generation"/> is older than <see cref="TokenGeneration"/> or the
    /// engine is disposed. Breaks nothing: rights are given up through <see cref="RecallTokenRightsAsync"/> and
    /// <see cref="YieldUnusedTokenRights"/>, and rights being given up stay marked so until that ends. A file's state that
    /// holds rights but is otherwise idle is still swept; its rights are then forgotten (None) and asked for again.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="rights"/> has unknown bits, or <paramref name="generation"/> is newer than <see cref="TokenGeneration"/>.</exception>
    public bool SetTokenRights(FileKey file, TokenRights rights, long generation)
    {
        if ((rights & ~TokenRights.All) != 0)
            throw new ArgumentOutOfRangeException(nameof(rights), rights, "Unknown token rights.");
        if (generation > TokenGeneration)
            throw new ArgumentOutOfRangeException(nameof(generation), generation, "A generation this engine has not reached.");
        while (true)
        {
            if (_disposed)
                return false;
            var state = _files.GetOrAdd(file, static (key, engine) => new FileState(key, engine), this);
            bool idle;
            lock (state)
            {
                if (state.Retired)
                    continue;
                if (_disposed || generation != Volatile.Read(ref _tokenGeneration))
                    return false;
                state.Token = rights;
                state.TokenGeneration = generation;
                state.SweepMarked = false;
                idle = state.IsIdle;
            }
            if (idle)
                ScheduleSweep();
            return true;
        }
    }

    /// <summary>The rights this node's engine holds on <paramref name="file"/> (None for a file it does not track).</summary>
    public TokenRights TokenRightsOf(FileKey file)
    {
        while (_files.TryGetValue(file, out var state))
        {
            lock (state)
            {
                if (!state.Retired)
                    return state.TokenHeld(Volatile.Read(ref _tokenGeneration));
            }
        }
        return TokenRights.None;
    }

    /// <summary>
    /// The rights on <paramref name="file"/> something local uses right now: <see cref="TokenRights.Read"/>/<see cref="TokenRights.Write"/>
    /// for registered opens and held changes, <see cref="TokenRights.ReadDelegation"/>/<see cref="TokenRights.WriteDelegation"/>
    /// for live read/write grants (a layout counts as a write grant).
    /// </summary>
    /// <remarks>A write grant counts as both delegation rights (a write delegation implies a read one); a breaker parked
    /// in Await mode counts like the open or change it will become.</remarks>
    public TokenRights TokenRightsInUse(FileKey file)
    {
        while (_files.TryGetValue(file, out var state))
        {
            var fx = new Effects();
            TokenRights used;
            lock (state)
            {
                if (state.Retired)
                    continue;
                var now = new Now(Time);
                state.Expire(ref now, ref fx);
                state.ArmTimer(ref now);
                used = state.TokenRightsInUse();
            }
            if (!fx.IsEmpty)
                Run(ref fx);
            return used;
        }
        return TokenRights.None;
    }

    /// <summary>
    /// Gives up the rights among <paramref name="drop"/> that nothing local uses (a Want from another node, or an idle
    /// token lingering too long). Synchronous, under the file lock. Returns the rights still held afterwards.
    /// </summary>
    public TokenRights YieldUnusedTokenRights(FileKey file, TokenRights drop)
    {
        while (_files.TryGetValue(file, out var state))
        {
            var fx = new Effects();
            TokenRights kept;
            lock (state)
            {
                if (state.Retired)
                    continue;
                var now = new Now(Time);
                state.Expire(ref now, ref fx); // a grant past its deadline uses nothing any more
                state.ArmTimer(ref now);
                long generation = Volatile.Read(ref _tokenGeneration);
                kept = state.TokenHeld(generation) & ~(drop & ~state.TokenRightsInUse());
                state.Token = kept;
                state.TokenGeneration = generation;
            }
            if (!fx.IsEmpty)
                Run(ref fx);
            return kept;
        }
        return TokenRights.None;
    }

    /// <summary>
    /// Gives up <paramref name="drop"/> for another node's Need: from now on no local grant may use those rights
    /// (they are marked yielding), the local grants that do are broken with <paramref name="breaker"/> as the breaker and
    /// at most <paramref name="maxBreakTime"/> to answer, and once they are gone the rights are cleared. Open rights in
    /// <paramref name="drop"/> that local opens still use are kept (opens cannot be recalled; a Need never asks for
    /// them). Completes with the rights still held.
    /// </summary>
    /// <remarks>
    /// Dropping <see cref="TokenRights.ReadDelegation"/> breaks every lease and delegation; dropping only
    /// <see cref="TokenRights.WriteDelegation"/> downgrades write leases and recalls write delegations and layouts.
    /// The wait is bounded: a grant not returned by <paramref name="maxBreakTime"/> is revoked by the engine.
    /// </remarks>
    /// <exception cref="OperationCanceledException">The cancellation token fired: the recall is abandoned, the rights
    /// stay held and are no longer marked yielding (unless another recall of the file is in flight); the grants already
    /// broken stay broken.</exception>
    /// <exception cref="ObjectDisposedException">The engine was disposed first.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxBreakTime"/> is negative or longer than a day.</exception>
    public ValueTask<TokenRights> RecallTokenRightsAsync(FileKey file, TokenRights drop, Owner breaker, TimeSpan maxBreakTime, CancellationToken cancellationToken = default)
    {
        if (maxBreakTime < TimeSpan.Zero || maxBreakTime > TimeSpan.FromDays(1))
            throw new ArgumentOutOfRangeException(nameof(maxBreakTime), maxBreakTime, "maxBreakTime must be between 0 and 1 day.");
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        drop &= TokenRights.All;
        long maxBreakTicks = ToTimestampTicks(maxBreakTime);
        while (_files.TryGetValue(file, out var state))
        {
            var fx = new Effects();
            BreakWaiter? waiter = null;
            TokenRights kept = TokenRights.None;
            int broken;
            lock (state)
            {
                if (state.Retired)
                    continue;
                if (_disposed)
                    ThrowDisposed();
                var now = new Now(Time);
                state.Expire(ref now, ref fx);
                state.Yielding |= drop;
                state.TokenRecalls++;
                int remaining = state.StartTokenBreaks(drop, breaker, maxBreakTicks, ref now, ref fx, out broken);
                if (remaining > 0)
                    waiter = state.ParkTokenRecall(drop, breaker, remaining);
                else
                    kept = state.EndTokenRecall(drop, Volatile.Read(ref _tokenGeneration), completed: true);
                state.ArmTimer(ref now);
            }
            if (broken > 0)
                Log.TokenRecall(_logger, drop, file, broken);
            if (!fx.IsEmpty)
                Run(ref fx);
            return waiter is null ? new ValueTask<TokenRights>(kept) : EndRecallAsync(state, waiter, drop, cancellationToken);
        }
        return new ValueTask<TokenRights>(TokenRights.None); // nothing tracked, nothing held

        async ValueTask<TokenRights> EndRecallAsync(FileState state, BreakWaiter waiter, TokenRights drop, CancellationToken cancellationToken)
        {
            bool completed = false;
            try
            {
                await Wait(waiter, cancellationToken).ConfigureAwait(false);
                completed = true;
            }
            catch (OperationCanceledException)
            {
            }
            bool idle = false, retired;
            TokenRights kept = TokenRights.None;
            lock (state)
            {
                // Retired once the grants were gone and the file idle: its rights went with it, nothing to clear.
                retired = state.Retired;
                if (!retired)
                {
                    kept = state.EndTokenRecall(drop, Volatile.Read(ref _tokenGeneration), completed);
                    idle = state.IsIdle;
                }
            }
            if (idle)
                ScheduleSweep();
            if (!completed)
                throw new OperationCanceledException(cancellationToken);
            return retired ? TokenRightsOf(state.Key) : kept;
        }
    }

    /// <summary>
    /// The node has lost (or may have lost) its standing in the cluster: increments <see cref="TokenGeneration"/>, keeps
    /// only <paramref name="keep"/> of every file's rights, and breaks every grant that used a right dropped, with at most
    /// <paramref name="maxBreakTime"/> to answer (zero revokes them at once). Returns the number of grants broken.
    /// </summary>
    /// <remarks>Does not wait for the grants: the deadlines end them. Opens and held changes go on; what they use is
    /// kept only if <paramref name="keep"/> says so.</remarks>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxBreakTime"/> is negative or longer than a day.</exception>
    public int FenceTokens(TokenRights keep, TimeSpan maxBreakTime)
    {
        if (maxBreakTime < TimeSpan.Zero || maxBreakTime > TimeSpan.FromDays(1))
            throw new ArgumentOutOfRangeException(nameof(maxBreakTime), maxBreakTime, "maxBreakTime must be between 0 and 1 day.");
        // First the generation, then the walk: a SetTokenRights that read the old generation either ran before this
        // file's turn (and the walk trims it) or runs after the increment (and is refused).
        long generation = Interlocked.Increment(ref _tokenGeneration);
        var drop = TokenRights.All & ~keep;
        long maxBreakTicks = ToTimestampTicks(maxBreakTime);
        int total = 0;
        foreach (var (_, state) in _files)
        {
            var fx = new Effects();
            lock (state)
            {
                if (state.Retired || _disposed)
                    continue;
                var now = new Now(Time);
                state.Expire(ref now, ref fx);
                state.Token &= keep;
                state.TokenGeneration = Math.Max(state.TokenGeneration, generation);
                if (drop != 0)
                {
                    state.StartTokenBreaks(drop, Owner.Anonymous, maxBreakTicks, ref now, ref fx, out int broken);
                    total += broken;
                }
                state.ArmTimer(ref now);
            }
            if (!fx.IsEmpty)
                Run(ref fx);
        }
        Log.TokensFenced(_logger, generation, keep, total, maxBreakTime);
        return total;
    }

    // ================================================================ entry points on a cluster node

    // OpenAsync, BreakAsync and BeginChangeAsync with IFileTokens: the same attempt under the file lock, which also
    // checks the right the operation needs; lacking it, the cluster is asked outside the lock and the attempt made again.
    // Kept apart from the single-server paths so that those pay one null check for all this.

    /// <param name="round">How many times the node token was asked for already (see <see cref="AcquireForBreaker"/>).</param>
    private ValueTask<BreakResult> OpenWithToken(FileKey file, Owner owner, OpenAccess access, BreakMode mode, int round, CancellationToken cancellationToken)
    {
        var op = ConflictRules.OperationFor(access);
        var need = TokenRules.For(access);
        while (true)
        {
            ThrowIfDisposed();
            var state = _files.GetOrAdd(file, static (key, engine) => new FileState(key, engine), this);
            switch (TryBreak(state, op, owner, access, mode, long.MaxValue, need, out var result, out var waiter, holdFile: false, out _))
            {
                case Attempt.Done:
                    return result;
                case Attempt.Parked:
                    return Wait(waiter!, cancellationToken);
                case Attempt.LacksToken:
                    var acquiring = AcquireForBreaker(file, need, mode, ref round, cancellationToken);
                    if (!acquiring.IsCompletedSuccessfully)
                        return OpenWhenAcquired(acquiring, file, owner, access, mode, round, cancellationToken);
                    if (acquiring.Result is var answer && answer != TokenAnswer.Held)
                        return new ValueTask<BreakResult>(TokenWouldBlock(op, file, owner, need, answer));
                    break;
            }
        }
    }

    private ValueTask<BreakResult> BreakWithToken(FileKey file, FileOperation op, Owner breaker, BreakMode mode, long maxBreakTicks, int round, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        var need = TokenRules.For(op);
        while (true)
        {
            // No lock-free shortcut for a file without grants: the node must hold the right even to read it.
            ThrowIfDisposed();
            var state = _files.GetOrAdd(file, static (key, engine) => new FileState(key, engine), this);
            switch (TryBreak(state, op, breaker, 0, mode, maxBreakTicks, need, out var result, out var waiter, holdFile: false, out _))
            {
                case Attempt.Done:
                    return result;
                case Attempt.Parked:
                    return Wait(waiter!, cancellationToken);
                case Attempt.LacksToken:
                    var acquiring = AcquireForBreaker(file, need, mode, ref round, cancellationToken);
                    if (!acquiring.IsCompletedSuccessfully)
                        return BreakWhenAcquired(acquiring, file, op, breaker, mode, maxBreakTicks, round, cancellationToken);
                    if (acquiring.Result is var answer && answer != TokenAnswer.Held)
                        return new ValueTask<BreakResult>(TokenWouldBlock(op, file, breaker, need, answer));
                    break;
            }
        }
    }

    private ValueTask<FileChange> BeginChangeWithToken(FileKey file, FileOperation op, Owner breaker, BreakMode mode, int round, CancellationToken cancellationToken)
    {
        var need = TokenRules.For(op);
        while (true)
        {
            ThrowIfDisposed();
            var state = _files.GetOrAdd(file, static (key, engine) => new FileState(key, engine), this);
            switch (TryBreak(state, op, breaker, 0, mode, long.MaxValue, need, out var result, out var waiter, holdFile: true, out var guard))
            {
                case Attempt.Done:
                    return new ValueTask<FileChange>(new FileChange(result.Result, guard));
                case Attempt.Parked:
                    return AwaitChange(waiter!, cancellationToken);
                case Attempt.LacksToken:
                    var acquiring = AcquireForBreaker(file, need, mode, ref round, cancellationToken);
                    if (!acquiring.IsCompletedSuccessfully)
                        return ChangeWhenAcquired(acquiring, file, op, breaker, mode, round, cancellationToken);
                    if (acquiring.Result is var answer && answer != TokenAnswer.Held)
                        return new ValueTask<FileChange>(new FileChange(TokenWouldBlock(op, file, breaker, need, answer), null));
                    break;
            }
        }
    }

    /// <summary>
    /// Asks the cluster for the open or change right <paramref name="need"/> (Need strength). An Await caller waits for it;
    /// a NonBlocking one hears Contended at once while the acquisition goes on. After <see cref="MaxTokenRounds"/> rounds
    /// the answer is Refused without asking.
    /// </summary>
    private ValueTask<TokenAnswer> AcquireForBreaker(FileKey file, TokenRights need, BreakMode mode, ref int round, CancellationToken cancellationToken)
    {
        if (++round > MaxTokenRounds)
            return new ValueTask<TokenAnswer>(TokenAnswer.Refused);
        return _tokens!.AcquireAsync(file, need, TokenStrength.Need, wait: mode == BreakMode.Await, cancellationToken);
    }

    private BreakResult TokenWouldBlock(FileOperation op, FileKey file, Owner breaker, TokenRights need, TokenAnswer answer)
    {
        Log.TokenWouldBlock(_logger, op, file, breaker, need, answer);
        return new BreakResult(BreakStatus.WouldBlock);
    }

    private async ValueTask<BreakResult> OpenWhenAcquired(ValueTask<TokenAnswer> pending, FileKey file, Owner owner, OpenAccess access, BreakMode mode, int round, CancellationToken cancellationToken)
    {
        var answer = await pending.ConfigureAwait(false);
        if (answer != TokenAnswer.Held)
            return TokenWouldBlock(ConflictRules.OperationFor(access), file, owner, TokenRules.For(access), answer);
        return await OpenWithToken(file, owner, access, mode, round, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask<BreakResult> BreakWhenAcquired(ValueTask<TokenAnswer> pending, FileKey file, FileOperation op, Owner breaker, BreakMode mode, long maxBreakTicks, int round, CancellationToken cancellationToken)
    {
        var answer = await pending.ConfigureAwait(false);
        if (answer != TokenAnswer.Held)
            return TokenWouldBlock(op, file, breaker, TokenRules.For(op), answer);
        return await BreakWithToken(file, op, breaker, mode, maxBreakTicks, round, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask<FileChange> ChangeWhenAcquired(ValueTask<TokenAnswer> pending, FileKey file, FileOperation op, Owner breaker, BreakMode mode, int round, CancellationToken cancellationToken)
    {
        var answer = await pending.ConfigureAwait(false);
        if (answer != TokenAnswer.Held)
            return new FileChange(TokenWouldBlock(op, file, breaker, TokenRules.For(op), answer), null);
        return await BeginChangeWithToken(file, op, breaker, mode, round, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// A grant with the authority's yes, on a cluster node: admitted at once when the node holds the right; otherwise the
    /// right is asked for (Want strength, waiting: the cluster bounds the wait) and the grant tried again. No right, no
    /// grant: <see cref="GrantStatus.RefusedByAuthority"/>, and the authority hears that its admission came to nothing.
    /// </summary>
    private ValueTask<GrantResult> AdmitWithToken(GrantRequest request, bool admittedByAuthority, CancellationToken cancellationToken)
    {
        var need = TokenRules.For(request.Kind, request.Mode);
        var result = AdmitLocally(request, admittedByAuthority, need, out bool lacksToken);
        return lacksToken ? AcquireAndAdmitAsync(request, need, cancellationToken) : new ValueTask<GrantResult>(result);
    }

    private async ValueTask<GrantResult> AcquireAndAdmitAsync(GrantRequest request, TokenRights need, CancellationToken cancellationToken)
    {
        var answer = TokenAnswer.Refused;
        for (int round = 1; round <= MaxTokenRounds; round++)
        {
            try
            {
                answer = await _tokens!.AcquireAsync(request.File, need, TokenStrength.Want, wait: true, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                _authority.OnGrantEnded(request, null); // admitted, never recorded
                throw;
            }
            if (answer != TokenAnswer.Held)
                break;
            var result = AdmitLocally(request, true, need, out bool lacksToken);
            if (!lacksToken)
                return result;
            answer = TokenAnswer.Refused; // taken again before we got back: ask again, a bounded number of times
        }
        Log.GrantRefusedForToken(_logger, request.Kind, request.Mode, request.File, request.Owner, need, answer);
        _authority.OnGrantEnded(request, null);
        return GrantStatus.RefusedByAuthority;
    }
}
