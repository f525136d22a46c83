namespace Leasehold.Engine;

// FileState, node tokens: the rights this node holds on the file against the other nodes of a cluster (see
// TokenRights), cached here so that every entry point checks them under the file lock it already takes. A single
// server never sets them. Guarded by the file lock like everything else in FileState.
internal sealed partial class FileState
{
    /// <summary>The rights held; valid only while <see cref="TokenGeneration"/> is the engine's current generation.</summary>
    public TokenRights Token;

    /// <summary>Rights being given back to another node: held still, but no new local use may rely on them.</summary>
    public TokenRights Yielding;

    /// <summary>Recalls in flight (<see cref="LeaseEngine.RecallTokenRightsAsync"/>); the last one to end clears <see cref="Yielding"/>.</summary>
    public int TokenRecalls;

    /// <summary>The engine's fence generation when <see cref="Token"/> was set.</summary>
    public long TokenGeneration;

    /// <summary>Whether the node may use <paramref name="need"/> here now: held, not being given back, and not fenced since.</summary>
    public bool HoldsToken(TokenRights need, long generation) =>
        (Token & need) == need && (Yielding & need) == 0 && TokenGeneration == generation;

    /// <summary>The rights held, or None if a fence has invalidated them.</summary>
    public TokenRights TokenHeld(long generation) => TokenGeneration == generation ? Token : TokenRights.None;

    /// <summary>
    /// The node rights a grant relies on: a read lease or delegation <see cref="TokenRights.ReadDelegation"/>, a write
    /// one both delegation rights (a write delegation implies a read one), a layout <see cref="TokenRights.WriteDelegation"/>.
    /// </summary>
    public static TokenRights GrantUses(GrantKind kind, GrantMode mode) =>
        kind == GrantKind.Layout ? TokenRights.WriteDelegation
        : mode == GrantMode.Read ? TokenRights.ReadDelegation
        : TokenRights.Delegations;

    /// <summary>
    /// The rights something local relies on now: registered opens (R, W), live grants (<see cref="GrantUses"/>),
    /// held changes and parked breakers (the right their operation and the open they will register need).
    /// </summary>
    public TokenRights TokenRightsInUse()
    {
        var used = TokenRights.None;
        for (int i = 0; i < _openOwners; i++)
        {
            ref var open = ref _opens![i];
            if (open.Readers > 0)
                used |= TokenRights.Read;
            if (open.Writers > 0)
                used |= TokenRights.Write;
        }
        for (var g = _head; g is not null; g = g.Next)
        {
            if (g.IsLive)
                used |= GrantUses(g.Kind, g.CurrentMode);
        }
        if (_breaks?.Waiters is { } waiters)
        {
            foreach (var w in waiters)
            {
                if (w.TokenDrop == 0)
                    used |= TokenRules.For(w.Operation) | (w.OpenToRegister != 0 ? TokenRules.For(w.OpenToRegister) : TokenRights.None);
            }
        }
        return used;
    }

    /// <summary>
    /// Starts breaking every live grant that uses a right in <paramref name="drop"/> (<see cref="GrantUses"/>), with
    /// <paramref name="breaker"/> as the breaker and every deadline bounded as in <see cref="StartBreaks"/>. A write lease
    /// that only loses <see cref="TokenRights.WriteDelegation"/> is downgraded; every other grant is revoked (NFSv4
    /// cannot downgrade a delegation). Returns how many grants still block (are Breaking); <paramref name="broken"/>
    /// counts every grant touched, those taken back at once included.
    /// </summary>
    public int StartTokenBreaks(TokenRights drop, Owner breaker, long maxBreakTicks, ref Now now, ref Effects fx, out int broken)
    {
        broken = 0;
        int remaining = 0;
        long earliest = long.MaxValue;
        DateTimeOffset utcNow = default;
        for (var g = _head; g is not null; g = g.Next)
        {
            if (!g.IsLive || (GrantUses(g.Kind, g.CurrentMode) & drop) == 0 || Matcher.BreakerOwns(breaker, g.Owner))
                continue;
            var target = g.Kind == GrantKind.Lease && g.CurrentMode == GrantMode.Write && (drop & TokenRights.ReadDelegation) == 0
                ? BreakTarget.Downgrade
                : BreakTarget.Revoke;
            broken++;
            if (BreakGrant(g, target, maxBreakTicks, ref now, ref fx, ref utcNow, ref earliest))
                remaining++;
        }
        return remaining;
    }

    /// <summary>Parks a token recall until the <paramref name="remaining"/> grants using <paramref name="drop"/> are gone.</summary>
    public BreakWaiter ParkTokenRecall(TokenRights drop, Owner breaker, int remaining)
    {
        // The operation only shows in logs and snapshots: what the recall waits for is decided by TokenDrop.
        var op = (drop & TokenRights.ReadDelegation) != 0 ? FileOperation.OpenWrite : FileOperation.OpenRead;
        var waiter = new BreakWaiter(this, op, breaker, 0, remaining) { TokenDrop = drop };
        var breaks = _breaks ??= new BreakState();
        (breaks.Waiters ??= []).Add(waiter);
        return waiter;
    }

    /// <summary>
    /// Ends a recall: clears the rights of <paramref name="drop"/> nothing local uses (with a recall completed, only
    /// open rights can still be in use) and, once no other recall is in flight, the yielding mark. Returns the rights held.
    /// </summary>
    public TokenRights EndTokenRecall(TokenRights drop, long generation, bool completed)
    {
        if (completed)
            Token = TokenHeld(generation) & ~(drop & ~TokenRightsInUse());
        else
            Token = TokenHeld(generation);
        TokenGeneration = generation;
        if (--TokenRecalls == 0)
            Yielding = TokenRights.None;
        return Token;
    }
}
