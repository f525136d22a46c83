using Leasehold.Engine;
using Leasehold.IntegrationTests.Delegations;
using Leasehold.Nfs4;
using Leasehold.Nfs4.Client;
using Leasehold.Testing;

namespace Leasehold.IntegrationTests;

/// <summary>
/// The NFS layer's instruments (<see cref="Nfs4Metrics"/>) move with real COMPOUNDs against the real server. The server
/// and its engine each have a meter of their own, so the recorders hear this class's server only, whatever other test
/// classes' servers do meanwhile; tests in one class run one at a time, so the counts are this test's.
/// </summary>
public sealed class MetricsTests(ServerFixture fx) : IClassFixture<ServerFixture>
{
    private Nfs4Server Server => fx.Service.Nfs ?? throw new InvalidOperationException("The server is not running.");

    [Fact]
    public async Task Open_write_read_and_a_failure_are_counted_by_operation_and_status_with_durations_and_bytes()
    {
        Server.Metrics.FlushDurations(); // durations an earlier test left in the batches are not this test's
        using var m = new MeterRecorder(Server.Metrics.Meter);
        Assert.Equal(Nfs4Metrics.MeterName, Server.Metrics.Meter.Name);
        var session = fx.Session;
        var root = await fx.RootAsync();
        string name = ServerFixture.NewName("metrics");
        var data = new byte[3000];
        Random.Shared.NextBytes(data);

        var made = (await session.CreateAsync(root, name).Bounded()).ValueOrThrow();
        Assert.Equal(NfsStat4.Ok, (await session.WriteAsync(made.FileHandle, made.StateId, 0, data).Bounded()).Status);
        var read = (await session.ReadAsync(made.FileHandle, made.StateId, 1000, 1500).Bounded()).ValueOrThrow();
        Assert.Equal(1500, read.Data.Length);
        Assert.Equal(NfsStat4.Ok, (await session.CloseAsync(made.FileHandle, made.StateId).Bounded()).Status);
        // A READ under the stateid CLOSE just retired fails.
        Assert.Equal(NfsStat4.BadStateId, (await session.ReadAsync(made.FileHandle, made.StateId, 0, 10).Bounded()).Status);
        Assert.Equal(NfsStat4.NoEnt, (await session.LookupAsync(root, ServerFixture.NewName("missing")).Bounded()).Status);

        const string Ops = Nfs4Metrics.OperationsName;
        Assert.Equal(1, m.Sum(Ops, ("nfs.operation", "OPEN"), ("nfs.status", "NFS4_OK")));
        Assert.Equal(1, m.Sum(Ops, ("nfs.operation", "WRITE"), ("nfs.status", "NFS4_OK")));
        Assert.Equal(1, m.Sum(Ops, ("nfs.operation", "READ"), ("nfs.status", "NFS4_OK")));
        Assert.Equal(1, m.Sum(Ops, ("nfs.operation", "READ"), ("nfs.status", "NFS4ERR_BAD_STATEID")));
        Assert.Equal(1, m.Sum(Ops, ("nfs.operation", "CLOSE"), ("nfs.status", "NFS4_OK")));
        Assert.Equal(1, m.Sum(Ops, ("nfs.operation", "LOOKUP"), ("nfs.status", "NFS4ERR_NOENT")));
        Assert.True(m.Sum(Ops, ("nfs.operation", "SEQUENCE"), ("nfs.status", "NFS4_OK")) >= 6);
        Assert.True(m.Sum(Ops, ("nfs.operation", "PUTFH"), ("nfs.status", "NFS4_OK")) >= 4);
        Assert.Empty(m.Of(Ops, ("nfs.status", "NFS4ERR_SERVERFAULT")));

        // One duration per operation answered, in seconds, tagged with the operation only (recorded in batches: flushed here).
        Server.Metrics.FlushDurations();
        var durations = m.Of(Nfs4Metrics.OperationDurationName);
        Assert.Equal(2, m.Of(Nfs4Metrics.OperationDurationName, ("nfs.operation", "READ")).Count);
        Assert.Single(m.Of(Nfs4Metrics.OperationDurationName, ("nfs.operation", "WRITE")));
        Assert.Single(m.Of(Nfs4Metrics.OperationDurationName, ("nfs.operation", "OPEN")));
        Assert.Single(m.Of(Nfs4Metrics.OperationDurationName, ("nfs.operation", "LOOKUP")));
        Assert.All(durations, d => Assert.InRange(d.Value, 1e-9, 10));
        Assert.All(durations, d => Assert.False(d.Tags.ContainsKey("nfs.status")));

        Assert.Equal(data.Length, m.Sum(Nfs4Metrics.IoBytesName, ("nfs.io.direction", "write")));
        Assert.Equal(1500, m.Sum(Nfs4Metrics.IoBytesName, ("nfs.io.direction", "read")));

        Assert.True(m.Sum(Nfs4Metrics.CompoundsName, ("nfs.minor_version", 1), ("nfs.status", "NFS4_OK")) >= 4);
        Assert.Equal(1, m.Sum(Nfs4Metrics.CompoundsName, ("nfs.minor_version", 1), ("nfs.status", "NFS4ERR_BAD_STATEID")));

        m.Observe();
        Assert.True(m.Gauge(Nfs4Metrics.SessionsName) >= 1);
        Assert.True(m.Gauge(Nfs4Metrics.ClientsName) >= 1);
        Assert.NotNull(m.Gauge(Nfs4Metrics.DelegationsName));
    }

    [Fact]
    public async Task A_delegation_granted_recalled_and_returned_moves_its_counters_and_the_recall_duration()
    {
        using var m = new MeterRecorder(Server.Metrics.Meter);
        using var engine = new MeterRecorder(fx.Engine.Metrics.Meter);
        var (root, name, file) = await DelegationClient.NewFileAsync(fx, "metrics-deleg");
        await using var a = await DelegationClient.ConnectAsync(fx);
        await using var b = await DelegationClient.ConnectAsync(fx);
        m.Observe();
        double clientsBefore = m.Gauge(Nfs4Metrics.ClientsName) ?? 0;
        double delegationsBefore = m.Gauge(Nfs4Metrics.DelegationsName) ?? 0;

        var held = (await a.Session.OpenAsync(root, name, ShareAccess.Read).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.Read, held.Delegation.Type);
        Assert.Equal(1, m.Sum(Nfs4Metrics.DelegationsGrantedName, ("nfs.delegation.type", "READ")));
        Assert.Equal(1, engine.Sum(EngineMetrics.GrantsName, ("grant.kind", "delegation"), ("grant.mode", "read")));
        m.Observe();
        Assert.Equal(delegationsBefore + 1, m.Gauge(Nfs4Metrics.DelegationsName));
        Assert.True(clientsBefore >= 2, $"{clientsBefore} clients counted with three connected");

        // Another client's open for write recalls it; the holder returns it.
        Assert.Equal(NfsStat4.Delay, (await b.Session.OpenAsync(root, name, ShareAccess.Write).Bounded()).Status);
        var recall = await a.NextRecallAsync();
        Assert.Equal(held.Delegation.StateId, recall.StateId);
        Assert.Equal(1, m.Sum(Nfs4Metrics.DelegationsRecalledName, ("nfs.delegation.type", "READ")));
        Assert.Equal(1, engine.Sum(EngineMetrics.BreaksName, ("grant.kind", "delegation"), ("break.target", "revoke")));
        Assert.Empty(m.Of(Nfs4Metrics.RecallDurationName));
        await Task.Delay(50); // a recall that visibly takes time (timers may fire a millisecond or two early)
        Assert.Equal(NfsStat4.Ok, await a.Session.DelegReturnAsync(file, held.Delegation.StateId).Bounded());

        Assert.Equal(1, m.Sum(Nfs4Metrics.DelegationsReturnedName, ("nfs.delegation.type", "READ")));
        Assert.Equal(0, m.Sum(Nfs4Metrics.DelegationsRevokedName));
        var duration = Assert.Single(m.Of(Nfs4Metrics.RecallDurationName));
        Assert.True(duration.Has(("nfs.delegation.type", "READ"), ("outcome", "returned")));
        Assert.InRange(duration.Value, 0.04, 10);
        Assert.Equal(0, engine.Sum(EngineMetrics.RevocationsName));
        m.Observe();
        Assert.Equal(delegationsBefore, m.Gauge(Nfs4Metrics.DelegationsName));

        var writer = (await b.Session.OpenAsync(root, name, ShareAccess.Write).Bounded()).ValueOrThrow();
        Assert.Equal(NfsStat4.Ok, (await b.Session.CloseAsync(writer.FileHandle, writer.StateId).Bounded()).Status);
        Assert.Equal(1, m.Sum(Nfs4Metrics.OperationsName, ("nfs.operation", "DELEGRETURN"), ("nfs.status", "NFS4_OK")));
        Assert.True(m.Sum(Nfs4Metrics.OperationsName, ("nfs.operation", "OPEN"), ("nfs.status", "NFS4ERR_DELAY")) >= 1);
    }

    /// <summary>
    /// A recall the administrator ends (`leasehold client revoke`) is counted as a revocation with its reason, and its
    /// recall time is in the histogram: the slowest recalls are exactly the ones an operator ends by hand.
    /// </summary>
    [Fact]
    public async Task A_recall_ended_by_the_administrator_counts_as_revoked_for_that_reason_with_its_recall_time()
    {
        using var m = new MeterRecorder(Server.Metrics.Meter);
        var (root, name, _) = await DelegationClient.NewFileAsync(fx, "metrics-admin");
        await using var a = await DelegationClient.ConnectAsync(fx);
        await using var b = await DelegationClient.ConnectAsync(fx);
        var held = (await a.Session.OpenAsync(root, name, ShareAccess.Read).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.Read, held.Delegation.Type);
        Assert.Equal(NfsStat4.Delay, (await b.Session.OpenAsync(root, name, ShareAccess.Write).Bounded()).Status);
        Assert.Equal(held.Delegation.StateId, (await a.NextRecallAsync()).StateId); // a holds on and does not return it
        await Task.Delay(50);

        var outcome = new Leasehold.Nfs4.Admin.ServerAdmin(Server).RevokeClientState(a.Session.ClientId);

        Assert.Equal(1, outcome!.Delegations);
        Assert.Equal(1, m.Sum(Nfs4Metrics.DelegationsRevokedName, ("nfs.delegation.type", "READ"), ("nfs.revoke.reason", "admin")));
        Assert.Equal(0, m.Sum(Nfs4Metrics.DelegationsRevokedName, ("nfs.revoke.reason", "deadline")));
        Assert.Equal(0, m.Sum(Nfs4Metrics.DelegationsReturnedName));
        var duration = Assert.Single(m.Of(Nfs4Metrics.RecallDurationName));
        Assert.True(duration.Has(("nfs.delegation.type", "READ"), ("outcome", "revoked")));
        Assert.InRange(duration.Value, 0.04, 10);
    }
}
