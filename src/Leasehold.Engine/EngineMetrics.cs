using System.Diagnostics.Metrics;

namespace Leasehold.Engine;

/// <summary>
/// The engine's instruments (System.Diagnostics.Metrics), on a <see cref="System.Diagnostics.Metrics.Meter"/> named
/// <see cref="MeterName"/>. Each <see cref="LeaseEngine"/> has its own meter (disposed with the engine), so several
/// engines in one process (tests) are measured apart; a collector subscribes by the name
/// (OpenTelemetry's <c>AddMeter("Leasehold.Engine")</c>), which finds every engine's meter.
/// </summary>
/// <remarks>
/// Nothing is recorded under a file lock: admissions, breaks and revocations are counted after the critical section,
/// from what it decided. The gauge of live grants reads six counters the file states keep with
/// <see cref="Interlocked"/> as grants are linked, change state and go; it never walks the files.
/// </remarks>
public sealed class EngineMetrics : IDisposable
{
    /// <summary>The name of every engine's meter.</summary>
    public const string MeterName = "Leasehold.Engine";

    /// <summary>Observable counter: grants admitted (new grants; a holder's change of its own grant is not counted). Tags grant.kind, grant.mode.</summary>
    public const string GrantsName = "leasehold.engine.grants";

    /// <summary>Observable counter: break notices sent to holders (a pending downgrade escalated to a revoke counts again). Tags grant.kind, break.target.</summary>
    public const string BreaksName = "leasehold.engine.breaks";

    /// <summary>Observable counter: grants the engine took back itself at their deadline (or at once, with a break time of zero). Tags grant.kind, break.target.</summary>
    public const string RevocationsName = "leasehold.engine.revocations";

    /// <summary>Observable gauge: live grants now. Tags grant.kind, grant.state (active, breaking).</summary>
    public const string ActiveGrantsName = "leasehold.engine.grants.active";

    private static readonly KeyValuePair<string, object?>[] s_kind =
        [new("grant.kind", "lease"), new("grant.kind", "delegation"), new("grant.kind", "layout")];

    private static readonly KeyValuePair<string, object?>[] s_mode =
        [new("grant.mode", "read"), new("grant.mode", "write"), new("grant.mode", "shared"), new("grant.mode", "exclusive")];

    private static readonly KeyValuePair<string, object?>[] s_target =
        [new("break.target", "none"), new("break.target", "downgrade"), new("break.target", "revoke")];

    private static readonly KeyValuePair<string, object?>[] s_state =
        [new("grant.state", "active"), new("grant.state", "breaking")];

    private const int Kinds = 3;

    /// <summary>Live grants by kind and state: [kind * 2] Active, [kind * 2 + 1] Breaking.</summary>
    private readonly long[] _live = new long[Kinds * 2];

    // Totals behind observable counters, so every series is exported from the first scrape on (at 0 until it moves).
    /// <summary>Grants admitted: [kind * 4 + mode].</summary>
    private readonly long[] _grants = new long[Kinds * 4];

    /// <summary>Break notices, and grants taken back at their deadline: [kind * 3 + target].</summary>
    private readonly long[] _breaks = new long[Kinds * 3];
    private readonly long[] _revocations = new long[Kinds * 3];

    internal EngineMetrics()
    {
        Meter = new Meter(MeterName);
        Meter.CreateObservableCounter(GrantsName, ObserveGrants, "{grant}", "Grants admitted (leases, delegations, layouts)");
        Meter.CreateObservableCounter(BreaksName, () => ObserveBreaks(_breaks), "{break}", "Break notices sent to grant holders");
        Meter.CreateObservableCounter(RevocationsName, () => ObserveBreaks(_revocations), "{grant}", "Grants taken back by the engine at their break deadline");
        Meter.CreateObservableGauge(ActiveGrantsName, Observe, "{grant}", "Live grants, by kind and state");
    }

    /// <summary>This engine's meter (named <see cref="MeterName"/>); a listener may pick one engine's instruments by it.</summary>
    public Meter Meter { get; }

    /// <summary>Live grants of <paramref name="kind"/> in <paramref name="state"/> (Active or Breaking) now.</summary>
    public long LiveGrants(GrantKind kind, GrantState state) =>
        state is GrantState.Active or GrantState.Breaking ? Volatile.Read(ref _live[Index(kind, state)]) : 0;

    internal void Granted(GrantKind kind, GrantMode mode) => Interlocked.Increment(ref _grants[((int)kind * 4) + (int)mode]);

    /// <summary>Counts what the holder notices of one critical section say: breaks sent, and grants taken back at their deadline.</summary>
    internal void Noticed(List<HolderNotice> notices)
    {
        foreach (var notice in notices)
            Interlocked.Increment(ref (notice.Expired ? _revocations : _breaks)[((int)notice.Grant.Kind * 3) + (int)notice.Target]);
    }

    /// <summary>A grant moved from one state to another (new grants come from Released). Called under the file lock: only counters change.</summary>
    internal void Moved(GrantKind kind, GrantState from, GrantState to)
    {
        if (from == to)
            return;
        if (from is GrantState.Active or GrantState.Breaking)
            Interlocked.Decrement(ref _live[Index(kind, from)]);
        if (to is GrantState.Active or GrantState.Breaking)
            Interlocked.Increment(ref _live[Index(kind, to)]);
    }

    private static int Index(GrantKind kind, GrantState state) => ((int)kind * 2) + (state == GrantState.Breaking ? 1 : 0);

    /// <summary>The kinds' own modes only (a lease or delegation is read or write, a layout shared or exclusive).</summary>
    private IEnumerable<Measurement<long>> ObserveGrants()
    {
        for (int kind = 0; kind < Kinds; kind++)
        {
            foreach (var mode in kind == (int)GrantKind.Layout ? (int[])[(int)GrantMode.Shared, (int)GrantMode.Exclusive] : [(int)GrantMode.Read, (int)GrantMode.Write])
                yield return new Measurement<long>(Interlocked.Read(ref _grants[(kind * 4) + mode]), s_kind[kind], s_mode[mode]);
        }
    }

    /// <summary>The break targets a notice carries: downgrade and revoke.</summary>
    private static IEnumerable<Measurement<long>> ObserveBreaks(long[] counts)
    {
        for (int kind = 0; kind < Kinds; kind++)
        {
            foreach (var target in (int[])[(int)BreakTarget.Downgrade, (int)BreakTarget.Revoke])
                yield return new Measurement<long>(Interlocked.Read(ref counts[(kind * 3) + target]), s_kind[kind], s_target[target]);
        }
    }

    private IEnumerable<Measurement<long>> Observe()
    {
        var measurements = new Measurement<long>[_live.Length];
        for (int i = 0; i < _live.Length; i++)
            measurements[i] = new Measurement<long>(Volatile.Read(ref _live[i]), s_kind[i / 2], s_state[i % 2]);
        return measurements;
    }

    public void Dispose() => Meter.Dispose();
}
