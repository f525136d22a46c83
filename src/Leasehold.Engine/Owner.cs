namespace Leasehold.Engine;

/// <summary>
/// Who holds a grant, holds an open or asks for a change: an opaque two-part identity. The parts mean
/// what the caller wants them to; the NFS layer puts the client id in <see cref="Group"/> and the open
/// owner in <see cref="Id"/>; a local process with no group is (0, pid). Group 0 means "in no group":
/// <see cref="OwnerMatchers.SameGroup"/> then falls back to exact matching.
/// How a breaker's identity is matched against a holder's is decided by an <see cref="IOwnerMatcher"/>.
/// </summary>
public readonly record struct Owner(ulong Group, ulong Id)
{
    /// <summary>A breaker with no identity (a local process we know nothing of). It owns nothing, so it breaks everything.</summary>
    public static Owner Anonymous => default;

    public bool IsAnonymous => Group == 0 && Id == 0;

    public override string ToString() => IsAnonymous ? "anonymous" : $"{Group:x}/{Id:x}";
}

/// <summary>
/// Decides whether an operation by <c>breaker</c> may ignore a grant or open held by <c>holder</c>, because
/// both are the same party. This is the engine's answer to delegation self-conflicts: a client's own
/// operations never recall its own delegation (compare <c>lm_breaker_owns_lease</c> in fs/locks.c).
/// Implementations must be pure and fast: they are called under a per-file lock.
/// </summary>
public interface IOwnerMatcher
{
    bool BreakerOwns(Owner breaker, Owner holder);
}

/// <summary>The two common ways to match owners.</summary>
public static class OwnerMatchers
{
    /// <summary>Only the very same owner (both parts equal) is itself. The default.</summary>
    public static IOwnerMatcher Exact { get; } = new ExactMatcher();

    /// <summary>Owners in the same non-zero group are one party: an NFS client and all of its open owners. Group 0 is no group.</summary>
    public static IOwnerMatcher SameGroup { get; } = new SameGroupMatcher();

    private sealed class ExactMatcher : IOwnerMatcher
    {
        public bool BreakerOwns(Owner breaker, Owner holder) => !breaker.IsAnonymous && breaker == holder;
    }

    private sealed class SameGroupMatcher : IOwnerMatcher
    {
        public bool BreakerOwns(Owner breaker, Owner holder) =>
            !breaker.IsAnonymous && (breaker.Group == 0 ? breaker == holder : breaker.Group == holder.Group);
    }
}
