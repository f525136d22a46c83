using System.Diagnostics;
using Leasehold.Export.LocalAccess;
using Leasehold.Export.Tests.LocalAccess;
using Leasehold.Nfs4.Client;
using Leasehold.IntegrationTests.Delegations;
using Leasehold.Testing;
using Microsoft.Extensions.Logging;
using static Leasehold.IntegrationTests.LocalAccess.LocalScene;
using static Leasehold.IntegrationTests.Waits;

namespace Leasehold.IntegrationTests.LocalAccess;

/// <summary>
/// A holder that never answers a recall caused by a local process: the engine revokes the delegation at its deadline
/// (here the 4 s lease time, well under the kernel's lease-break-time) and only then lets the kernel lease go.
/// </summary>
public sealed class SilentHolderLocalAccessTests(ShortLeaseLocalAccessFixture fx) : IClassFixture<ShortLeaseLocalAccessFixture>
{
    private const uint RecallableStateRevoked = 0x40;

    [LocalAccessFact]
    public async Task Holder_that_never_answers_is_revoked_and_the_local_writer_proceeds()
    {
        var (root, name, _, path, ino) = await NewFileAsync(fx, "silent");
        await using var a = await DelegationClient.ConnectAsync(fx);
        var held = await HoldAsync(a, root, name, ShareAccess.Read, DelegationType.Read);
        await using var child = await ProbeProcess.StartAsync(holdLeaseBreakTimeShared: true);

        long start = Stopwatch.GetTimestamp();
        var open = await child.StartCommandAsync($"timedopen {path} w");
        Assert.Equal(held.Delegation.StateId, (await a.NextRecallAsync()).StateId);
        // The holder stays alive (its lease renewed) but never returns the delegation.
        while (!open.IsCompleted && Elapsed(start, Stopwatch.GetTimestamp()) < TimeSpan.FromSeconds(15))
        {
            Assert.Equal(NfsStat4.Ok, await a.Session.RenewAsync().Bounded());
            await Task.WhenAny(open, Task.Delay(500));
        }
        var (_, opened) = ParseTimedOpen(await open.WaitAsync(Waits.Timeout));

        var waited = Elapsed(start, opened);
        Assert.InRange(waited, TimeSpan.FromSeconds(3.6), TimeSpan.FromSeconds(10));
        Assert.Empty(KernelView.Leases(ino));
        Assert.Equal(NfsStat4.Ok, await a.Session.RenewAsync().Bounded());
        await WaitUntilAsync(() => a.Session.RenewAsync().Result == NfsStat4.Ok && (a.Session.LastSequenceStatusFlags & RecallableStateRevoked) != 0,
            "SEQUENCE reports SEQ4_STATUS_RECALLABLE_STATE_REVOKED");
        Assert.Equal(NfsStat4.DelegRevoked, (await a.Session.ReadAsync(held.FileHandle, held.Delegation.StateId, 0, 10).Bounded()).Status);
    }
}

/// <summary>
/// Where the export cannot guard local access (here <c>Export:LocalAccess = Off</c>; elsewhere no root, leases off), the
/// default policy grants no delegation (WND4_RESOURCE) and one Warning says why.
/// </summary>
public sealed class UnguardedExportTests(UnguardedServerFixture fx) : IClassFixture<UnguardedServerFixture>
{
    private const uint Resource = 2;

    [Fact]
    public async Task No_guard_no_delegations_one_log_line()
    {
        Assert.Equal(LocalAccessMechanism.None, fx.LocalAccess);
        var root = await fx.RootAsync();
        await using var a = await DelegationClient.ConnectAsync(fx);
        for (int i = 0; i < 3; i++)
        {
            var (_, name, _) = await DelegationClient.NewFileAsync(fx, "unguarded");
            var opened = (await a.Session.OpenAsync(root, name, ShareAccess.Read | ShareAccess.WantReadDelegation).Bounded()).ValueOrThrow();
            Assert.Equal(DelegationType.NoneExt, opened.Delegation.Type);
            Assert.Equal(Resource, opened.Delegation.WhyNone);
        }

        var warning = Assert.Single(fx.Log.Entries, e => e.Level >= LogLevel.Warning);
        Assert.Equal(2011, warning.EventId);
        Assert.Contains("Export:LocalAccess is Off", warning.Message, StringComparison.Ordinal);
        Assert.Contains("ExclusiveExport", warning.Message, StringComparison.Ordinal);
        Assert.Equal(0, fx.GuardCount);
    }
}

/// <summary><c>Nfs4:Delegations = ExclusiveExport</c>: delegations without guards, for an export nothing else touches.</summary>
public sealed class ExclusiveExportTests(ExclusiveExportServerFixture fx) : IClassFixture<ExclusiveExportServerFixture>
{
    [Fact]
    public async Task Exclusive_export_grants_delegations_without_guards()
    {
        var (root, name, _, path, ino) = await NewFileAsync(fx, "exclusive");
        await using var a = await DelegationClient.ConnectAsync(fx);

        await HoldAsync(a, root, name, ShareAccess.Read, DelegationType.Read);

        Assert.Equal(0, fx.GuardCount);
        Assert.Empty(KernelView.Leases(ino));
        Assert.DoesNotContain(fx.Log.Entries, e => e.Level >= LogLevel.Warning);
        Assert.Equal("hello", await File.ReadAllTextAsync(path)); // nothing guards: a local open does not wait
    }
}
