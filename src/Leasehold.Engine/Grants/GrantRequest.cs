namespace Leasehold.Engine;

/// <summary>A request for a grant. <paramref name="Holder"/> hears of breaks and revocations.</summary>
public readonly record struct GrantRequest(FileKey File, Owner Owner, GrantKind Kind, GrantMode Mode, IGrantHolder Holder);

/// <summary>Why a grant was or was not made.</summary>
public enum GrantStatus : byte
{
    Granted,

    /// <summary>Another owner has the file open in a way the grant cannot coexist with.</summary>
    ConflictingOpen,

    /// <summary>Another owner holds a grant this one cannot coexist with.</summary>
    ConflictingGrant,

    /// <summary>
    /// A break is in progress on the file (a grant being recalled, the requester's own included, or a breaker
    /// waiting); try later. Also the answer to a holder changing its own grant while that grant is being broken, unless
    /// the change is the downgrade the break asks for.
    /// </summary>
    BreakPending,

    /// <summary>The file's delegations were recalled a short while ago; a delegation would only be recalled again.</summary>
    RecentlyRecalled,

    /// <summary>The <see cref="IGrantAuthority"/> refused it (another cluster node holds a conflicting grant, say).</summary>
    RefusedByAuthority,
}

/// <summary>The outcome of <see cref="LeaseEngine.GrantAsync"/>: <see cref="Grant"/> is set when <see cref="Status"/> is Granted.</summary>
public readonly record struct GrantResult(GrantStatus Status, Grant? Grant)
{
    public bool IsGranted => Status == GrantStatus.Granted;

    public static implicit operator GrantResult(GrantStatus status) => new(status, null);
}

/// <summary>Whether a breaker may go ahead.</summary>
public enum BreakStatus : byte
{
    /// <summary>No conflicting grant remains: do the operation.</summary>
    Proceed,

    /// <summary>
    /// Conflicting grants are being broken; try again later (NFS4ERR_DELAY). Only in <see cref="BreakMode.NonBlocking"/>, except on a
    /// cluster node that could not get the node token the operation needs (<see cref="IFileTokens"/>), in either mode.
    /// </summary>
    WouldBlock,

    /// <summary>Another owner holds an exclusive layout that this layout change cannot break; it fails at once.</summary>
    LayoutBusy,
}

/// <summary>The outcome of a break. <see cref="Deadline"/> is when the engine will take the conflicting grants back by itself.</summary>
public readonly record struct BreakResult(BreakStatus Status, DateTimeOffset? Deadline = null)
{
    public static BreakResult Proceed => default;

    public bool CanProceed => Status == BreakStatus.Proceed;
}
