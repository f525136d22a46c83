namespace Leasehold.Engine.Tests.Stress;

/// <summary>What an operation needs done to another owner's grant, as the stress checker's oracle sees it.</summary>
internal enum Needed : byte
{
    Nothing,
    Downgrade,
    Revoke,

    /// <summary>The grant cannot be broken: the operation must fail (another owner's exclusive layout).</summary>
    Unbreakable,
}

/// <summary>
/// The conflict rules written out a second time, from the table in the engine's documentation rather than from its
/// code, so the stress test checks the engine against an independent statement of the rules.
/// </summary>
internal static class StressOracle
{
    /// <summary>Two live grants of different, non-matching owners must never both be held when this is true.</summary>
    public static bool GrantsConflict(GrantKind kindA, GrantMode modeA, GrantKind kindB, GrantMode modeB)
    {
        bool layoutA = kindA == GrantKind.Layout;
        bool layoutB = kindB == GrantKind.Layout;
        if (layoutA != layoutB)
            return false; // leases and delegations never meet layouts
        if (layoutA)
            return modeA == GrantMode.Exclusive || modeB == GrantMode.Exclusive;
        return modeA == GrantMode.Write || modeB == GrantMode.Write;
    }

    /// <summary>
    /// The table from <c>ConflictRules</c>' documentation:
    /// <code>
    ///                  Lease R   Lease W    Deleg R   Deleg W   Layout S  Layout X
    ///   OpenRead       -         Downgrade  -         Revoke    -         -
    ///   OpenWrite      Revoke    Revoke     Revoke    Revoke    -         -
    ///   Truncate       Revoke    Revoke     Revoke    Revoke    Revoke    Busy
    ///   SetAttributes  -         -          Revoke    Revoke    -         -
    ///   Link/Unlink/Rename  -    -          Revoke    Revoke    -         -
    ///   LayoutChange   -         -          -         -         Revoke    Busy
    ///   SpaceChange    Revoke    Revoke     Revoke    Revoke    Revoke    Busy
    /// </code>
    /// </summary>
    public static Needed NeededFor(FileOperation op, GrantKind kind, GrantMode mode)
    {
        bool write = mode == GrantMode.Write;
        return (op, kind) switch
        {
            (FileOperation.Truncate or FileOperation.LayoutChange or FileOperation.SpaceChange, GrantKind.Layout) =>
                mode == GrantMode.Exclusive ? Needed.Unbreakable : Needed.Revoke,
            (_, GrantKind.Layout) => Needed.Nothing,
            (FileOperation.LayoutChange, _) => Needed.Nothing,
            (FileOperation.OpenWrite or FileOperation.Truncate or FileOperation.SpaceChange, _) => Needed.Revoke,
            (FileOperation.OpenRead, GrantKind.Lease) => write ? Needed.Downgrade : Needed.Nothing,
            (FileOperation.OpenRead, GrantKind.Delegation) => write ? Needed.Revoke : Needed.Nothing,
            (_, GrantKind.Delegation) => Needed.Revoke, // SetAttributes, Link, Unlink, Rename
            _ => Needed.Nothing,
        };
    }

    /// <summary>Linux's rule for opens: a read lease is refused while another owner writes, a write lease while another owner has it open at all.</summary>
    public static bool OpenForbids(GrantKind kind, GrantMode mode, OpenAccess otherOpen)
    {
        if (kind == GrantKind.Layout)
            return false;
        return mode == GrantMode.Write || (otherOpen & OpenAccess.Write) != 0;
    }

    /// <summary>
    /// The rule for a holder changing its own grant while it is being broken, from the table in <c>ConflictRules</c>'
    /// documentation: under a pending downgrade (only a write lease has one) the holder may go to Read, which answers it;
    /// under a pending revoke it may change nothing (only a release answers a revoke).
    /// </summary>
    public static bool HolderMayChange(BreakTarget pending, GrantKind kind, GrantMode requested) => pending switch
    {
        BreakTarget.None => true,
        BreakTarget.Downgrade => kind == GrantKind.Lease && requested == GrantMode.Read,
        _ => false,
    };

    /// <summary>The weaker of a kind's two modes.</summary>
    public static GrantMode WeakMode(GrantKind kind) => kind == GrantKind.Layout ? GrantMode.Shared : GrantMode.Read;

    public static FileOperation OperationFor(OpenAccess access) =>
        (access & OpenAccess.Write) != 0 ? FileOperation.OpenWrite : FileOperation.OpenRead;

    public static bool IsLive(GrantState state) => state is GrantState.Active or GrantState.Breaking;

    /// <summary>Whether two owners are one party for the purpose of conflicts (the engine asks the matcher with the breaker first).</summary>
    public static bool SameParty(IOwnerMatcher matcher, Owner a, Owner b) => matcher.BreakerOwns(a, b) || matcher.BreakerOwns(b, a);
}
