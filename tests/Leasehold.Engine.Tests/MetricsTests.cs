using Leasehold.Testing;
using static Leasehold.Engine.Tests.EngineFixture;

namespace Leasehold.Engine.Tests;

/// <summary>
/// The engine's instruments (<see cref="EngineMetrics"/>) move with what the engine does. Each engine has its own meter,
/// so the recorder listens to this test's engine only, whatever runs beside it.
/// </summary>
public sealed class MetricsTests
{
    private static double Active(MeterRecorder m, string kind, string state)
    {
        m.Observe();
        return m.Gauge(EngineMetrics.ActiveGrantsName, ("grant.kind", kind), ("grant.state", state))
            ?? throw new Xunit.Sdk.XunitException($"no {kind}/{state} measurement of {EngineMetrics.ActiveGrantsName}");
    }

    [Fact]
    public async Task A_grant_a_break_and_a_revocation_move_the_counters_and_the_live_gauge()
    {
        await using var f = new EngineFixture();
        using var m = new MeterRecorder(f.Engine.Metrics.Meter);
        Assert.Equal(EngineMetrics.MeterName, f.Engine.Metrics.Meter.Name);
        var holder = new RecordingHolder();

        var grant = f.Grant(FileA, Alice, GrantKind.Delegation, GrantMode.Read, holder);
        var lease = f.Grant(FileB, Alice, GrantKind.Lease, GrantMode.Write, holder);

        Assert.Equal(1, m.Sum(EngineMetrics.GrantsName, ("grant.kind", "delegation"), ("grant.mode", "read")));
        Assert.Equal(1, m.Sum(EngineMetrics.GrantsName, ("grant.kind", "lease"), ("grant.mode", "write")));
        Assert.Equal(1, Active(m, "delegation", "active"));
        Assert.Equal(0, Active(m, "delegation", "breaking"));
        Assert.Equal(1, Active(m, "lease", "active"));

        // Another owner's open for write recalls the delegation.
        Assert.Equal(BreakStatus.WouldBlock, f.Open(FileA, Bob, OpenAccess.Write).Status);
        Assert.Equal(1, m.Sum(EngineMetrics.BreaksName, ("grant.kind", "delegation"), ("break.target", "revoke")));
        Assert.Equal(0, Active(m, "delegation", "active"));
        Assert.Equal(1, Active(m, "delegation", "breaking"));
        Assert.Equal(0, m.Sum(EngineMetrics.RevocationsName));

        // Not returned by the deadline: taken back, counted once, and no longer live.
        f.Clock.Advance(new LeaseEngineOptions().DelegationBreakTime + TimeSpan.FromSeconds(1));
        Assert.Equal(GrantState.Revoked, grant.State);
        Assert.Equal(1, m.Sum(EngineMetrics.RevocationsName, ("grant.kind", "delegation"), ("break.target", "revoke")));
        Assert.Equal(0, Active(m, "delegation", "breaking"));
        Assert.Equal(0, Active(m, "delegation", "active"));

        // A read open downgrades the write lease: the holder answers, and the grant is active again (not counted as new).
        Assert.Equal(BreakStatus.WouldBlock, f.Open(FileB, Bob, OpenAccess.Read).Status);
        Assert.Equal(1, m.Sum(EngineMetrics.BreaksName, ("grant.kind", "lease"), ("break.target", "downgrade")));
        Assert.Equal(1, Active(m, "lease", "breaking"));
        Assert.True(f.Engine.Downgrade(lease));
        Assert.Equal(GrantMode.Read, lease.Mode);
        Assert.Equal(1, Active(m, "lease", "active"));
        Assert.Equal(0, Active(m, "lease", "breaking"));
        Assert.Equal(2, m.Sum(EngineMetrics.GrantsName));

        // Releasing the revoked delegation changes no live count; releasing the lease does.
        f.Engine.Release(grant);
        Assert.Equal(1, Active(m, "lease", "active"));
        f.Engine.Release(lease);
        Assert.Equal(0, Active(m, "lease", "active"));
    }

    [Fact]
    public async Task Another_engines_grants_are_not_seen()
    {
        await using var mine = new EngineFixture();
        await using var other = new EngineFixture();
        using var m = new MeterRecorder(mine.Engine.Metrics.Meter);

        other.Grant(FileA, Alice, GrantKind.Lease, GrantMode.Read, new RecordingHolder());

        Assert.Equal(0, m.Sum(EngineMetrics.GrantsName));
        Assert.Equal(0, Active(m, "lease", "active"));
        Assert.Equal(1, other.Engine.Metrics.LiveGrants(GrantKind.Lease, GrantState.Active));
    }
}
