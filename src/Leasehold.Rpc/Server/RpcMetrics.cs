using System.Diagnostics.Metrics;
using Leasehold.Rpc.Messages;

namespace Leasehold.Rpc.Server;

/// <summary>
/// The RPC layer's instruments (System.Diagnostics.Metrics) on a <see cref="System.Diagnostics.Metrics.Meter"/> named
/// <see cref="MeterName"/>. Each <see cref="RpcServer"/> has its own meter, disposed with the server, so several servers
/// in one process (tests) are measured apart; a collector subscribes by the name (OpenTelemetry's
/// <c>AddMeter("Leasehold.Rpc")</c>), which finds every server's meter. Tag values are precomputed: recording a call
/// allocates nothing.
/// </summary>
public sealed class RpcMetrics : IDisposable
{
    /// <summary>The name of every RPC server's meter.</summary>
    public const string MeterName = "Leasehold.Rpc";

    /// <summary>UpDownCounter: connections open now (accepted and not yet closed).</summary>
    public const string ConnectionsName = "leasehold.rpc.connections";

    /// <summary>Counter: connections accepted (a connection refused at the limit is not).</summary>
    public const string ConnectionsAcceptedName = "leasehold.rpc.connections.accepted";

    /// <summary>
    /// Counter: calls answered. Tags rpc.program (the program number, for programs the server serves only) and
    /// rpc.accept_status: the accept_stat name (SUCCESS, PROG_UNAVAIL, PROG_MISMATCH, PROC_UNAVAIL, GARBAGE_ARGS,
    /// SYSTEM_ERR), or for a denied call the reject_stat name (RPC_MISMATCH, AUTH_ERROR).
    /// </summary>
    public const string CallsName = "leasehold.rpc.calls";

    private static readonly KeyValuePair<string, object?>[] s_accept =
    [
        new("rpc.accept_status", "SUCCESS"), new("rpc.accept_status", "PROG_UNAVAIL"), new("rpc.accept_status", "PROG_MISMATCH"),
        new("rpc.accept_status", "PROC_UNAVAIL"), new("rpc.accept_status", "GARBAGE_ARGS"), new("rpc.accept_status", "SYSTEM_ERR"),
    ];

    private static readonly KeyValuePair<string, object?>[] s_reject = [new("rpc.accept_status", "RPC_MISMATCH"), new("rpc.accept_status", "AUTH_ERROR")];

    private readonly Dictionary<uint, KeyValuePair<string, object?>> _programs;
    private readonly UpDownCounter<long> _connections;
    private readonly Counter<long> _accepted;
    private readonly Counter<long> _calls;

    internal RpcMetrics(IEnumerable<uint> programs)
    {
        _programs = programs.ToDictionary(p => p, p => new KeyValuePair<string, object?>("rpc.program", (long)p));
        Meter = new Meter(MeterName);
        _connections = Meter.CreateUpDownCounter<long>(ConnectionsName, "{connection}", "Open RPC connections");
        _accepted = Meter.CreateCounter<long>(ConnectionsAcceptedName, "{connection}", "RPC connections accepted");
        _calls = Meter.CreateCounter<long>(CallsName, "{call}", "RPC calls answered, by program and accept status");
    }

    /// <summary>This server's meter (named <see cref="MeterName"/>); a listener may pick one server's instruments by it.</summary>
    public Meter Meter { get; }

    internal void ConnectionOpened()
    {
        _accepted.Add(1);
        _connections.Add(1);
    }

    internal void ConnectionClosed() => _connections.Add(-1);

    /// <summary>A call answered with <paramref name="status"/>; <paramref name="program"/> is tagged only if the server serves it.</summary>
    internal void Call(uint program, AcceptStat status)
    {
        if (!_calls.Enabled)
            return;
        var tag = (uint)status < (uint)s_accept.Length ? s_accept[(uint)status] : s_accept[(int)AcceptStat.SystemErr];
        if (_programs.TryGetValue(program, out var served))
            _calls.Add(1, served, tag);
        else
            _calls.Add(1, tag);
    }

    /// <summary>A call denied (MSG_DENIED) before its program was looked at.</summary>
    internal void Denied(RejectStat reason)
    {
        if (_calls.Enabled)
            _calls.Add(1, s_reject[reason == RejectStat.AuthError ? 1 : 0]);
    }

    public void Dispose() => Meter.Dispose();
}
