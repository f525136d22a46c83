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

    /// <summary>Counter: grants admitted (new grants; a holder's change of its own grant is not counted). Tags grant.kind, grant.mode.</summary>
    public const string GrantsName = "leasehold.engine.grants";

    /// <summary>Counter: break notices sent to holders (a pending downgrade escalated to a revoke counts again). Tags grant.kind, break.target.</summary>
    public const string BreaksName = "leasehold.engine.breaks";

    /// <summary>Counter: grants the engine took back itself at their deadline (or at once, with a break time of zero). Tags grant.kind, break.target.</summary>
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
    private readonly Counter<long> _grants;
    private readonly Counter<long> _breaks;
    private readonly Counter<long> _revocations;

    internal EngineMetrics()
    {
        Meter = new Meter(MeterName);
        _grants = Meter.CreateCounter<long>(GrantsName, "{grant}", "Grants admitted (leases, delegations, layouts)");
        _breaks = Meter.CreateCounter<long>(BreaksName, "{break}", "Break notices sent to grant holders");
        _revocations = Meter.CreateCounter<long>(RevocationsName, "{grant}", "Grants taken back by the engine at their break deadline");
        Meter.CreateObservableGauge(ActiveGrantsName, Observe, "{grant}", "Live grants, by kind and state");
    }

    /// <summary>This engine's meter (named <see cref="MeterName"/>); a listener may pick one engine's instruments by it.</summary>
    public Meter Meter { get; }

    /// <summary>Live grants of <paramref name="kind"/> in <paramref name="state"/> (Active or Breaking) now.</summary>
    public long LiveGrants(GrantKind kind, GrantState state) =>
        state is GrantState.Active or GrantState.Breaking ? Volatile.Read(ref _live[Index(kind, state)]) : 0;

    internal void Granted(GrantKind kind, GrantMode mode)
    {
        if (_grants.Enabled)
            _grants.Add(1, s_kind[(int)kind], s_mode[(int)mode]);
    }

    /// <summary>Counts what the holder notices of one critical section say: breaks sent, and grants taken back at their deadline.</summary>
    internal void Noticed(List<HolderNotice> notices)
    {
        if (!_breaks.Enabled && !_revocations.Enabled)
            return;
        foreach (var notice in notices)
        {
            var counter = notice.Expired ? _revocations : _breaks;
            counter.Add(1, s_kind[(int)notice.Grant.Kind], s_target[(int)notice.Target]);
        }
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

    private IEnumerable<Measurement<long>> Observe()
    {
        var measurements = new Measurement<long>[_live.Length];
        for (int i = 0; i < _live.Length; i++)
            measurements[i] = new Measurement<long>(Volatile.Read(ref _live[i]), s_kind[i / 2], s_state[i % 2]);
        return measurements;
    }

    public void Dispose() => Meter.Dispose();
}
