namespace Leasehold.Engine;

/// <summary>
/// Implemented by whoever holds grants (the NFS delegation code, a local lease table) to hear about them.
/// Every call comes on a thread-pool thread, outside every engine lock, so an implementation may call back
/// into the engine (release the grant right there). Notices are delivered one at a time, in the order the engine
/// decided them, so an implementation must not block: start I/O such as a CB_RECALL and return.
/// </summary>
public interface IGrantHolder
{
    /// <summary>
    /// The engine wants <paramref name="grant"/> back: downgrade it (<see cref="BreakTarget.Downgrade"/>) or release it
    /// (<see cref="BreakTarget.Revoke"/>) before <paramref name="deadline"/>. Called once per break; called again only if
    /// a pending downgrade is escalated to a revoke.
    /// </summary>
    void OnBreak(Grant grant, BreakTarget target, DateTimeOffset deadline);

    /// <summary>
    /// The engine has downgraded or revoked <paramref name="grant"/> by itself, because the break deadline passed or
    /// the break time is zero. A revoked grant stays in the table, inert, until the holder releases it.
    /// </summary>
    void OnBreakExpired(Grant grant, BreakTarget applied);
}

/// <summary>
/// The one place every grant passes through before the engine records it. The default admits everything
/// (the local table decides); a cluster implementation asks the other nodes, and can veto a grant or take its
/// time. To break a grant from afar, a node calls <see cref="LeaseEngine.BreakAsync"/> with its own identity as
/// the breaker, like any other breaker.
/// </summary>
public interface IGrantAuthority
{
    /// <summary>
    /// Whether <paramref name="request"/> may be granted. Called outside every engine lock, before the local
    /// conflict check; complete synchronously where possible, it is on the grant fast path.
    /// </summary>
    ValueTask<bool> AdmitAsync(GrantRequest request, CancellationToken cancellationToken);

    /// <summary>
    /// A grant the authority admitted is gone from the local table, or was never recorded because the local check refused it
    /// (then <paramref name="grant"/> is null). Called outside every engine lock.
    /// </summary>
    void OnGrantEnded(GrantRequest request, Grant? grant);
}

/// <summary>The default authority: the local table is the only judge.</summary>
public sealed class InProcessGrantAuthority : IGrantAuthority
{
    public static InProcessGrantAuthority Instance { get; } = new();

    public ValueTask<bool> AdmitAsync(GrantRequest request, CancellationToken cancellationToken) => new(true);

    public void OnGrantEnded(GrantRequest request, Grant? grant)
    {
    }
}
