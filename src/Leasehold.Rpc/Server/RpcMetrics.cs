using System.Diagnostics.Metrics;
using Leasehold.Metrics;
using Leasehold.Rpc.Messages;

namespace Leasehold.Rpc.Server;

/// <summary>
/// The RPC layer's instruments (System.Diagnostics.Metrics) on a <see cref="System.Diagnostics.Metrics.Meter"/> named
/// <see cref="MeterName"/>. Each <see cref="RpcServer"/> has its own meter, disposed with the server, so several servers
/// in one process (tests) are measured apart; a collector subscribes by the name (OpenTelemetry's
/// <c>AddMeter("Leasehold.Rpc")</c>), which finds every server's meter. Tag values are precomputed: recording a call
/// allocates nothing. Calls, counted on every request, are kept in <see cref="StripedCounts"/> (one uncontended
/// interlocked add) and read by an observable counter when a collector asks, and only while one listens.
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
    /// Observable counter: calls answered. Tags rpc.program (the program number, for programs the server serves only) and
    /// rpc.accept_status: the accept_stat name (SUCCESS, PROG_UNAVAIL, PROG_MISMATCH, PROC_UNAVAIL, GARBAGE_ARGS,
    /// SYSTEM_ERR), or for a denied call the reject_stat name (RPC_MISMATCH, AUTH_ERROR).
    /// </summary>
    public const string CallsName = "leasehold.rpc.calls";

    private static readonly KeyValuePair<string, object?>[] s_status =
    [
        new("rpc.accept_status", "SUCCESS"), new("rpc.accept_status", "PROG_UNAVAIL"), new("rpc.accept_status", "PROG_MISMATCH"),
        new("rpc.accept_status", "PROC_UNAVAIL"), new("rpc.accept_status", "GARBAGE_ARGS"), new("rpc.accept_status", "SYSTEM_ERR"),
        new("rpc.accept_status", "RPC_MISMATCH"), new("rpc.accept_status", "AUTH_ERROR"),
    ];

    private const int RejectBase = (int)AcceptStat.SystemErr + 1; // s_status[RejectBase + reject_stat]

    private readonly uint[] _programs; // the programs served, in the order of their cells; a call of any other is "none"
    private readonly KeyValuePair<string, object?>[] _programTags;
    private readonly StripedCounts _callCounts; // cell: program index (_programs.Length: none) * s_status.Length + status
    private readonly UpDownCounter<long> _connections;
    private readonly Counter<long> _accepted;
    private readonly ObservableCounter<long> _calls;

    internal RpcMetrics(IEnumerable<uint> programs)
    {
        _programs = [.. programs.Distinct()];
        _programTags = [.. _programs.Select(p => new KeyValuePair<string, object?>("rpc.program", (long)p))];
        _callCounts = new StripedCounts((_programs.Length + 1) * s_status.Length);
        Meter = new Meter(MeterName);
        _connections = Meter.CreateUpDownCounter<long>(ConnectionsName, "{connection}", "Open RPC connections");
        _accepted = Meter.CreateCounter<long>(ConnectionsAcceptedName, "{connection}", "RPC connections accepted");
        _calls = Meter.CreateObservableCounter(CallsName, ObserveCalls, "{call}", "RPC calls answered, by program and accept status");
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
        if (_calls.Enabled)
            _callCounts.Increment(ProgramIndex(program) * s_status.Length + ((uint)status <= (uint)AcceptStat.SystemErr ? (int)status : (int)AcceptStat.SystemErr));
    }

    /// <summary>A call denied (MSG_DENIED) before its program was looked at.</summary>
    internal void Denied(RejectStat reason)
    {
        if (_calls.Enabled)
            _callCounts.Increment(_programs.Length * s_status.Length + RejectBase + (reason == RejectStat.AuthError ? 1 : 0));
    }

    /// <summary>The cell row of <paramref name="program"/>: its place among the programs served (a handful), else the "none" row.</summary>
    private int ProgramIndex(uint program)
    {
        int i = 0;
        while (i < _programs.Length && _programs[i] != program)
            i++;
        return i;
    }

    private IEnumerable<Measurement<long>> ObserveCalls()
    {
        for (int cell = 0; cell < _callCounts.Cells; cell++)
        {
            long count = _callCounts.Read(cell);
            if (count == 0)
                continue;
            int program = cell / s_status.Length;
            var status = s_status[cell % s_status.Length];
            yield return program < _programs.Length ? new Measurement<long>(count, _programTags[program], status) : new Measurement<long>(count, status);
        }
    }

    public void Dispose() => Meter.Dispose();
}
