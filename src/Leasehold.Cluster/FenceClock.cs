namespace Leasehold.Cluster;

/// <summary>
/// When a node that hears nothing from etcd must stop granting and must have revoked (docs/architecture.md "Cluster",
/// fencing). s is the node's monotonic time when it sent the last keepalive that etcd answered with the lease alive;
/// etcd expires the lease no earlier than T after it received that keepalive, which is after s. With clocks whose
/// rates differ by at most <see cref="Rho"/>, no other node can take a conflicting right before s + T(1 - ρ) on our clock.
/// <list type="bullet">
/// <item>P = s + T/2: at least one keepalive is missing. Stop admitting delegations and Wants; recall every
/// delegation with F - now to answer.</item>
/// <item>F = s + T(1 - ρ) - M, M = max(0.5 s, T/10): the recalls' deadline; whatever is still out is revoked
/// (in memory) before another node can hold a conflicting right.</item>
/// </list>
/// </summary>
internal static class FenceClock
{
    /// <summary>The bound on the difference between clock rates, 1 %.</summary>
    public const double Rho = 0.01;

    /// <summary>M: the time kept back for the in-memory revoke and the timer's lateness.</summary>
    public static TimeSpan Margin(TimeSpan ttl) => TimeSpan.FromTicks(Math.Max(TimeSpan.FromMilliseconds(500).Ticks, ttl.Ticks / 10));

    /// <summary>P - s.</summary>
    public static TimeSpan StopGranting(TimeSpan ttl) => ttl / 2;

    /// <summary>F - s.</summary>
    public static TimeSpan Revoked(TimeSpan ttl) => TimeSpan.FromTicks((long)(ttl.Ticks * (1 - Rho))) - Margin(ttl);
}
