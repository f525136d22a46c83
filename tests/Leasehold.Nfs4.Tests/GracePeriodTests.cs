using System.Text;
using Leasehold.Nfs4.State.Recovery;
using Leasehold.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Leasehold.Nfs4.Tests;

/// <summary>
/// The grace period's state machine (RFC 8881 §8.4.2.1; knfsd's early end and <c>clients_still_reclaiming</c>) on a
/// manual clock: on only when clients were recorded, over at the deadline or after the last recorded client's
/// RECLAIM_COMPLETE, stretched 1 s at a time while reclaims arrive, never past twice the grace time; the store forgets
/// the clients that did not come back before new state is let in.
/// </summary>
public sealed class GracePeriodTests : IDisposable
{
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(10);
    private static readonly byte[] A = Encoding.UTF8.GetBytes("Linux NFSv4.1 a");
    private static readonly byte[] B = Encoding.UTF8.GetBytes("Linux NFSv4.1 b");
    private static readonly string[] EndCalls = ["beforeEnd", "EndGrace"]; // re-record the reclaimers first, then forget the rest

    private readonly ManualTimeProvider _clock = new();
    private readonly RecordingStore _store = new();

    public void Dispose() => _store.Dispose();

    private GracePeriod Start(params byte[][] owners) => new(_store,
        new RecoveryStart(2, [.. owners.Select(o => new ClientRecord(o, "sys:0"))]), Grace, _clock, NullLogger.Instance,
        () =>
        {
            _store.Calls.Add("beforeEnd");
            return ValueTask.CompletedTask;
        });

    [Fact]
    public void Without_records_there_is_no_grace_period_and_no_timer()
    {
        using var grace = Start();
        Assert.False(grace.InGrace);
        Assert.True(grace.Ended.IsCompleted);
        Assert.Equal(0, _clock.ActiveTimers);
        Assert.Equal(ReclaimRole.None, grace.RoleOf(A, "sys:0"));
        Assert.Empty(_store.Calls); // nothing to forget
    }

    [Fact]
    public void With_records_it_lasts_until_the_deadline_then_forgets_who_did_not_come_back()
    {
        using var grace = Start(A, B);
        Assert.True(grace.InGrace);
        Assert.Equal(2, grace.Reclaimable);

        _clock.Advance(Grace - TimeSpan.FromTicks(1));
        Assert.True(grace.InGrace);
        _clock.Advance(TimeSpan.FromTicks(1));
        Assert.False(grace.InGrace);
        Assert.True(grace.Ended.IsCompletedSuccessfully);
        Assert.Equal(EndCalls, _store.Calls);
        Assert.Equal(0, _clock.ActiveTimers);
    }

    [Fact]
    public async Task It_ends_early_after_the_last_recorded_clients_RECLAIM_COMPLETE()
    {
        using var grace = Start(A, B);
        await grace.CompletedAsync(A);
        Assert.True(grace.InGrace);
        Assert.Equal(1, grace.Pending);
        await grace.CompletedAsync(Encoding.UTF8.GetBytes("somebody else")); // not recorded: changes nothing
        Assert.True(grace.InGrace);

        await grace.CompletedAsync(B);
        Assert.False(grace.InGrace);
        Assert.Equal(EndCalls, _store.Calls);

        _clock.Advance(Grace * 3); // the deadline passes: nothing more happens
        Assert.Equal(EndCalls, _store.Calls);
    }

    [Fact]
    public async Task A_recorded_name_reclaims_only_with_its_principal_and_only_during_grace()
    {
        using var grace = Start(A);
        Assert.Equal(ReclaimRole.Reclaimer, grace.RoleOf(A, "sys:0"));
        Assert.Equal(ReclaimRole.OtherPrincipal, grace.RoleOf(A, "sys:1000"));
        Assert.Equal(ReclaimRole.None, grace.RoleOf(B, "sys:0"));

        await grace.CompletedAsync(A);
        Assert.Equal(ReclaimRole.None, grace.RoleOf(A, "sys:0"));
    }

    [Fact]
    public void A_reclaim_in_the_last_second_moves_the_deadline_by_one_second()
    {
        using var grace = Start(A);
        _clock.Advance(Grace - TimeSpan.FromSeconds(0.5));
        grace.Reclaimed();
        Assert.Equal(TimeSpan.FromSeconds(0.5), grace.Left);
        _clock.Advance(TimeSpan.FromSeconds(0.5)); // the deadline: somebody reclaimed 0.5 s ago
        Assert.True(grace.InGrace);
        Assert.Equal(TimeSpan.FromSeconds(1), grace.Left); // what an operator sees (leasehold status): the stretched deadline
        _clock.Advance(TimeSpan.FromSeconds(1) - TimeSpan.FromTicks(1));
        Assert.True(grace.InGrace);
        _clock.Advance(TimeSpan.FromTicks(1)); // nobody reclaimed in the last second
        Assert.False(grace.InGrace);
        Assert.Null(grace.Left);
    }

    [Fact]
    public void A_reclaim_long_before_the_deadline_does_not_move_it()
    {
        using var grace = Start(A);
        _clock.Advance(Grace - TimeSpan.FromSeconds(2));
        grace.Reclaimed();
        _clock.Advance(TimeSpan.FromSeconds(2));
        Assert.False(grace.InGrace);
    }

    [Fact]
    public void Reclaims_that_keep_coming_stretch_grace_to_twice_its_time_and_no_further()
    {
        using var grace = Start(A);
        var half = TimeSpan.FromSeconds(0.5);
        for (var t = TimeSpan.Zero; t < 2 * Grace - half; t += half)
        {
            _clock.Advance(half);
            grace.Reclaimed();
            Assert.True(grace.InGrace);
        }
        _clock.Advance(half - TimeSpan.FromTicks(1));
        Assert.True(grace.InGrace);
        _clock.Advance(TimeSpan.FromTicks(1)); // 2 × grace
        Assert.False(grace.InGrace);
    }

    [Fact]
    public void A_store_that_cannot_forget_still_lets_the_grace_period_end()
    {
        _store.FailEndGrace = true;
        using var grace = Start(A);
        _clock.Advance(Grace);
        Assert.False(grace.InGrace);
    }

    [Fact]
    public async Task NoClientRecords_starts_empty_every_time()
    {
        using var store = new NoClientRecords();
        await store.RecordAsync(A, "sys:0");
        var start = store.Open();
        Assert.Equal(0, start.Epoch);
        Assert.Empty(start.Reclaimable);
    }

    [Fact]
    public void GraceTime_defaults_to_the_lease_time_and_may_not_be_shorter()
    {
        var options = new State.Nfs4Options { LeaseTime = TimeSpan.FromSeconds(30) };
        Assert.Equal(TimeSpan.FromSeconds(30), options.EffectiveGraceTime);
        options.GraceTime = TimeSpan.FromSeconds(29);
        Assert.Throws<ArgumentOutOfRangeException>(options.Validate);
        options.GraceTime = TimeSpan.FromSeconds(45);
        options.Validate();
        Assert.Equal(TimeSpan.FromSeconds(45), options.EffectiveGraceTime);
    }

    private sealed class RecordingStore : IClientRecordStore
    {
        public List<string> Calls { get; } = [];

        public bool FailEndGrace { get; set; }

        public RecoveryStart Open() => throw new NotSupportedException();

        public ValueTask RecordAsync(ReadOnlyMemory<byte> ownerId, string principal)
        {
            Calls.Add("Record");
            return ValueTask.CompletedTask;
        }

        public ValueTask RemoveAsync(ReadOnlyMemory<byte> ownerId)
        {
            Calls.Add("Remove");
            return ValueTask.CompletedTask;
        }

        public ValueTask EndGraceAsync()
        {
            Calls.Add("EndGrace");
            return FailEndGrace ? ValueTask.FromException(new ClientRecordStoreException("disk full")) : ValueTask.CompletedTask;
        }

        public void Dispose()
        {
        }
    }
}
