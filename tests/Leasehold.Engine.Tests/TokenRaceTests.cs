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

        var users = Enumerable.Range(0, 3).Select(i => Task.Run(async () =>
        {
            var owner = new Owner((ulong)i + 1, 1);
            while (DateTime.UtcNow < stop)
            {
                var access = i == 0 ? OpenAccess.Read : OpenAccess.Write;
                var need = TokenRules.For(access);
                if ((await f.Engine.OpenAsync(FileA, owner, access, BreakMode.NonBlocking)).CanProceed)
                {
                    Interlocked.Increment(ref opened);
                    if ((f.Engine.TokenRightsOf(FileA) & need) != need)
                        Interlocked.Increment(ref violations);
                    f.Engine.Close(FileA, owner, access);
                }
                using (var change = await f.Engine.BeginChangeAsync(FileA, FileOperation.SetAttributes, owner, BreakMode.NonBlocking))
                {
                    if (change.CanProceed)
                    {
                        Interlocked.Increment(ref changed);
                        if ((f.Engine.TokenRightsOf(FileA) & TokenRights.Write) == 0)
                            Interlocked.Increment(ref violations);
                    }
                }
                var grant = await f.Engine.GrantAsync(new GrantRequest(FileA, owner, GrantKind.Lease, GrantMode.Read, holder));
                if (grant.IsGranted)
                    f.Engine.Release(grant.Grant!);
            }
        })).ToArray();
        var yielder = Task.Run(async () =>
        {
            var node = new Owner(0xC1, 9);
            while (DateTime.UtcNow < stop)
            {
                await f.Engine.RecallTokenRightsAsync(FileA, TokenRights.All, node, TimeSpan.FromSeconds(30));
                f.Engine.YieldUnusedTokenRights(FileA, TokenRights.All);
                Interlocked.Increment(ref yields);
            }
        });

        await Task.WhenAll([.. users, yielder]).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(0, violations);
        Assert.True(opened > 0 && changed > 0 && yields > 0, $"opened {opened}, changed {changed}, yields {yields}");
        Assert.Equal(TokenRights.None, f.Engine.YieldUnusedTokenRights(FileA, TokenRights.All)); // nothing left in use
        Assert.Empty(f.Engine.Snapshot().Breakers);
    }
}
