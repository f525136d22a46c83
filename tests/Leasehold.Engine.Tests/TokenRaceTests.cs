using Leasehold.Testing;
using static Leasehold.Engine.Tests.EngineFixture;

namespace Leasehold.Engine.Tests;

/// <summary>Recalls and yields racing with local opens, changes and grants on real threads.</summary>
public sealed class TokenRaceTests
{
    [Fact]
    public async Task A_yield_racing_with_opens_and_changes_never_takes_a_right_one_of_them_holds()
    {
        await using var f = new TokenFixture();
        f.Tokens.HeldSets = TokenRights.All; // the cluster only ever adds rights; only the engine's yields take them
        var holder = new RecordingHolder();
        holder.OnBreakAction = (g, _) => f.Engine.Release(g);
        var stop = DateTime.UtcNow + TimeSpan.FromSeconds(1);
        int violations = 0, opened = 0, changed = 0, yields = 0;

        // Dedicated threads and synchronous calls (every call here completes at once but a recall waiting for a release,
        // which the notice drainer delivers on the thread pool): no pool starvation decides who runs.
        var threads = Enumerable.Range(0, 3).Select(i => new Thread(() =>
        {
            var owner = new Owner((ulong)i + 1, 1);
            var access = i == 0 ? OpenAccess.Read : OpenAccess.Write;
            var need = TokenRules.For(access);
            while (DateTime.UtcNow < stop)
            {
                if (f.Engine.OpenAsync(FileA, owner, access, BreakMode.NonBlocking).Now().CanProceed)
                {
                    Interlocked.Increment(ref opened);
                    for (int k = 0; k < 3; k++)
                    {
                        Thread.Yield(); // hold the open while the other threads run
                        if ((f.Engine.TokenRightsOf(FileA) & need) != need)
                            Interlocked.Increment(ref violations);
                    }
                    f.Engine.Close(FileA, owner, access);
                }
                using (var change = f.Engine.BeginChangeAsync(FileA, FileOperation.SetAttributes, owner, BreakMode.NonBlocking).Now())
                {
                    if (change.CanProceed)
                    {
                        Interlocked.Increment(ref changed);
                        Thread.Yield();
                        if ((f.Engine.TokenRightsOf(FileA) & TokenRights.Write) == 0)
                            Interlocked.Increment(ref violations);
                    }
                }
                var grant = f.Engine.GrantAsync(new GrantRequest(FileA, owner, GrantKind.Lease, GrantMode.Read, holder)).Now();
                if (grant.IsGranted)
                    f.Engine.Release(grant.Grant!);
            }
        })).Append(new Thread(() =>
        {
            var node = new Owner(0xC1, 9);
            while (DateTime.UtcNow < stop)
            {
                f.Engine.RecallTokenRightsAsync(FileA, TokenRights.All, node, TimeSpan.FromSeconds(30)).AsTask().GetAwaiter().GetResult();
                f.Engine.YieldUnusedTokenRights(FileA, TokenRights.All);
                Interlocked.Increment(ref yields);
                Thread.Yield();
            }
        })).ToArray();
        foreach (var t in threads)
            t.Start();
        foreach (var t in threads)
            Assert.True(t.Join(TimeSpan.FromSeconds(30)));

        Assert.Equal(0, violations);
        Assert.True(opened > 0 && changed > 0 && yields > 0, $"opened {opened}, changed {changed}, yields {yields}");
        Assert.Equal(TokenRights.None, f.Engine.YieldUnusedTokenRights(FileA, TokenRights.All)); // nothing left in use
        Assert.Empty(f.Engine.Snapshot().Breakers);
    }
}
