using Leasehold.Testing;

namespace Leasehold.Engine.Tests.Stress;

/// <summary>
/// Reductions of what the mid-flight dispose stress case can run into: calls that were already inside the engine
/// when <see cref="LeaseEngine.Dispose"/> began. Both fail against the engine as it stands (see the skip reasons);
/// remove the Skip once the engine is fixed.
/// </summary>
public sealed class DisposeRaceReproTests
{
    /// <summary>An authority that answers only when the test says so, to stop a grant between admission and the local check.</summary>
    private sealed class GatedAuthority : IGrantAuthority
    {
        public TaskCompletionSource<bool> Gate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Ended;

        public ValueTask<bool> AdmitAsync(GrantRequest request, CancellationToken cancellationToken) => new(Gate.Task);

        public void OnGrantEnded(GrantRequest request, Grant? grant) => Interlocked.Increment(ref Ended);
    }

    [Fact]
    public async Task Grant_admitted_after_dispose_fails_and_leaves_no_file_behind()
    {
        var authority = new GatedAuthority();
        var engine = new LeaseEngine(null, new ManualTimeProvider(), null, authority);
        var pending = engine.GrantAsync(new GrantRequest(FileKey.From(1), new Owner(1, 1), GrantKind.Lease, GrantMode.Read, new RecordingHolder()));

        engine.Dispose();
        authority.Gate.SetResult(true); // the authority says yes only now

        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await pending.AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(0, engine.TrackedFiles); // fails: 1, a FileState created after Dispose cleared the table
        Assert.Equal(1, authority.Ended);     // fails: 0, the authority admitted the grant and never hears that it was not recorded
    }

    [Fact]
    public async Task Close_racing_dispose_is_a_no_op()
    {
        // A real race with a window of a few instructions: over a few thousand tries it shows every time (about 1 in 30 here).
        int thrown = 0;
        for (int i = 0; i < 3000 && thrown == 0; i++)
        {
            var engine = new LeaseEngine(null, new ManualTimeProvider());
            var file = FileKey.From(1);
            var owner = new Owner(2, 1);
            engine.OpenAsync(file, owner, OpenAccess.Read, BreakMode.NonBlocking).Now();
            using var start = new Barrier(2);
            var close = Task.Run(() =>
            {
                start.SignalAndWait();
                try
                {
                    engine.Close(file, owner, OpenAccess.Read);
                }
                catch (InvalidOperationException)
                {
                    Interlocked.Increment(ref thrown);
                }
            });
            var dispose = Task.Run(() =>
            {
                start.SignalAndWait();
                engine.Dispose();
            });
            await Task.WhenAll(close, dispose).WaitAsync(TimeSpan.FromSeconds(10));
        }
        Assert.Equal(0, thrown);
    }
}
