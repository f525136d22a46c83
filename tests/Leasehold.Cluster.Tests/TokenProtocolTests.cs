using System.Diagnostics;
using Leasehold.Cluster.Tests.Etcd;
using Leasehold.Engine;

namespace Leasehold.Cluster.Tests;

/// <summary>Two in-process nodes, each a real <see cref="LeaseEngine"/>, against three real etcd members.</summary>
[Collection(EtcdCollection.Name)]
public sealed class TokenProtocolTests : EtcdNodeTests
{
    [EtcdFact]
    public async Task ALoneNodeTakesEveryRightWithOneTransactionAndKeysCarryTheRightLeases()
    {
        var a = await NodeAsync("a");
        var file = FileKey.From(0x1234);
        long before = a.Cluster.TokenAcquisitions;

        Assert.True((await a.Engine.OpenAsync(file, new Owner(1, 1), OpenAccess.Read, BreakMode.NonBlocking)).CanProceed);
        Assert.Equal(TokenRights.All, a.Engine.TokenRightsOf(file)); // greedy: nobody else has anything
        for (int i = 0; i < 50; i++)
        {
            a.Engine.Close(file, new Owner(1, 1), OpenAccess.Read);
            Assert.True((await a.Engine.OpenAsync(file, new Owner(1, 1), OpenAccess.ReadWrite, BreakMode.NonBlocking)).CanProceed);
            a.Engine.Close(file, new Owner(1, 1), OpenAccess.ReadWrite);
            Assert.True((await a.Engine.OpenAsync(file, new Owner(1, 1), OpenAccess.Read, BreakMode.NonBlocking)).CanProceed);
        }
        Assert.Equal(GrantStatus.Granted, (await a.DelegateAsync(file, GrantMode.Write)).Status);
        Assert.Equal(1, a.Cluster.TokenAcquisitions - before);

        var keys = await a.KeysAsync(file);
        Assert.Equal(TokenRights.All, keys.Token);
        Assert.Equal(a.Cluster.Session.ShortLease, keys.TokenLease);
        Assert.Equal(TokenRights.Open, keys.Open);
        Assert.Equal(a.Cluster.Session.LongLease, keys.OpenLease);
        Assert.Equal("/t/f/0000000000001234/tok/a", a.Cluster.Session.Keys.Token(file, "a").ToStringUtf8());
    }

    [EtcdFact]
    public async Task ReadDelegationOnAIsRecalledByAWriteOpenOnB()
    {
        var a = await NodeAsync("a");
        var b = await NodeAsync("b");
        var file = FileKey.From(0x77);
        Assert.True((await a.Engine.OpenAsync(file, new Owner(1, 1), OpenAccess.Read, BreakMode.NonBlocking)).CanProceed);
        Assert.Equal(GrantStatus.Granted, (await a.DelegateAsync(file, GrantMode.Read)).Status);

        var open = await b.Engine.OpenAsync(file, new Owner(2, 1), OpenAccess.Write, BreakMode.Await).AsTask().WaitAsync(TimeSpan.FromSeconds(20));
        long opened = Stopwatch.GetTimestamp();
        Assert.True(open.CanProceed);

        var breaks = a.Holder.Breaks;
        Assert.Single(breaks); // A's client was asked to return the delegation, before B's open went through
        Assert.Equal(TokenRights.None, a.Engine.TokenRightsOf(file) & TokenRights.Delegations);
        Assert.True((b.Engine.TokenRightsOf(file) & TokenRights.Write) != 0);
        var aKeys = await a.KeysAsync(file);
        Assert.Equal(TokenRights.None, aKeys.Token & TokenRights.Delegations);
        Assert.True((aKeys.Token & TokenRights.Read) != 0); // A's open for read stays
        Assert.True(opened > 0);

        // B's write open now stands in the way of another read delegation on A: refused, within the Want timeout.
        var clock = Stopwatch.StartNew();
        Assert.Equal(GrantStatus.RefusedByAuthority, (await a.DelegateAsync(file, GrantMode.Read, client: 3)).Status);
        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(3));
    }

    [EtcdFact]
    public async Task AWantIsRefusedWhileTheOtherNodeHasTheFileOpenForWriteAndGrantedOnceItCloses()
    {
        var a = await NodeAsync("a");
        var b = await NodeAsync("b", o => o.WantTimeout = TimeSpan.FromSeconds(10));
        var file = FileKey.From(0x99);
        Assert.True((await a.Engine.OpenAsync(file, new Owner(1, 1), OpenAccess.Write, BreakMode.NonBlocking)).CanProceed);

        // Refused as soon as A has read the request and kept its W (in use), not after the whole WantTimeout.
        var asked = Stopwatch.StartNew();
        Assert.Equal(GrantStatus.RefusedByAuthority, (await b.DelegateAsync(file, GrantMode.Read)).Status);
        Assert.True(asked.Elapsed < TimeSpan.FromSeconds(5), $"the refusal took {asked.Elapsed.TotalMilliseconds:F0} ms");
        Assert.True((a.Engine.TokenRightsOf(file) & TokenRights.Write) != 0); // the Want did not take A's used right

        a.Engine.Close(file, new Owner(1, 1), OpenAccess.Write);
        Assert.Equal(GrantStatus.Granted, (await b.DelegateAsync(file, GrantMode.Read)).Status); // A gives up unused W
        Assert.Equal(TokenRights.None, a.Engine.TokenRightsOf(file) & TokenRights.Write);
    }

    [EtcdFact]
    public async Task ConcurrentAcquisitionsOfOneFileAreDeduplicated()
    {
        var a = await NodeAsync("a");
        var file = FileKey.From(0x5150);
        long before = a.Cluster.TokenAcquisitions;
        var opens = Enumerable.Range(1, 20).Select(i => a.Engine.OpenAsync(file, new Owner((ulong)i, 1), OpenAccess.Read, BreakMode.Await).AsTask()).ToArray();
        await Task.WhenAll(opens).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.All(opens, o => Assert.True(o.Result.CanProceed));
        Assert.Equal(1, a.Cluster.TokenAcquisitions - before);
    }

    [EtcdFact]
    public async Task AnIdleTokenLingersThenGoes()
    {
        var a = await NodeAsync("a", o => o.TokenLinger = TimeSpan.FromMilliseconds(600));
        var file = FileKey.From(0xabc);
        Assert.True((await a.Engine.OpenAsync(file, new Owner(1, 1), OpenAccess.Read, BreakMode.NonBlocking)).CanProceed);
        await Eventually.TrueAsync(async () => (await a.KeysAsync(file)).Token == TokenRights.Read, TimeSpan.FromSeconds(5), "an open file keeps only the right its open uses");
        Assert.Equal(TokenRights.Read, (await a.KeysAsync(file)).Open);

        a.Engine.Close(file, new Owner(1, 1), OpenAccess.Read);
        await Eventually.TrueAsync(async () => (await a.KeysAsync(file)) is { Token: TokenRights.None, Open: TokenRights.None }, TimeSpan.FromSeconds(5), "the idle token's keys are deleted");
        Assert.Equal(TokenRights.None, a.Engine.TokenRightsOf(file));
    }

    [EtcdFact]
    public async Task AKilledHoldersRightsFreeAfterTheTtlAndNotBefore()
    {
        var a = await NodeAsync("a");
        var b = await NodeAsync("b");
        var file = FileKey.From(0xdead);
        Assert.Equal(GrantStatus.Granted, (await a.DelegateAsync(file, GrantMode.Write)).Status); // A holds every right

        Nodes.Remove(a);
        long killed = Stopwatch.GetTimestamp();
        await a.Cluster.AbandonAsync(); // as SIGKILL: nothing revoked, nothing answered
        var ttl = a.Cluster.LeaseTtl;

        var open = await b.Engine.OpenAsync(file, new Owner(2, 1), OpenAccess.Write, BreakMode.Await).AsTask().WaitAsync(TimeSpan.FromSeconds(20));
        var waited = Stopwatch.GetElapsedTime(killed);
        Assert.True(open.CanProceed);
        // A's last keepalive went at most TTL/4 before the kill, and etcd counts the TTL from then.
        Assert.InRange(waited, ttl - ttl / 4 - TimeSpan.FromMilliseconds(100), ttl + TimeSpan.FromSeconds(2.5));

        // A's open claim lives on under its long lease: no read delegation for B until it expires too.
        Assert.Equal(GrantStatus.RefusedByAuthority, (await b.DelegateAsync(file, GrantMode.Read)).Status);
        b.Engine.Close(file, new Owner(2, 1), OpenAccess.Write);
        await Eventually.TrueAsync(async () => (await b.DelegateAsync(file, GrantMode.Read)).Status == GrantStatus.Granted,
            TimeSpan.FromSeconds(10), "a read delegation once A's open claim expired with its long lease");
        Assert.True(Stopwatch.GetElapsedTime(killed) > TimeSpan.FromSeconds(6) - TimeSpan.FromSeconds(6) / 4 - TimeSpan.FromMilliseconds(100));
        await a.Engine.DisposeAsync();
    }

    [EtcdFact]
    public async Task ANonBlockingOpenIsDelayedWhileTheOtherNodeRecallsThenSucceedsOnRetry()
    {
        var a = await NodeAsync("a");
        var b = await NodeAsync("b");
        a.ReturnOnBreak = false;
        var file = FileKey.From(0x4242);
        var delegation = await a.DelegateAsync(file, GrantMode.Read);
        Assert.Equal(GrantStatus.Granted, delegation.Status);

        var first = await b.Engine.OpenAsync(file, new Owner(2, 1), OpenAccess.Write, BreakMode.NonBlocking);
        Assert.Equal(BreakStatus.WouldBlock, first.Status); // NFS4ERR_DELAY; the acquisition goes on in the background
        await a.Holder.WaitForAsync(1);
        Assert.Equal(BreakStatus.WouldBlock, (await b.Engine.OpenAsync(file, new Owner(2, 1), OpenAccess.Write, BreakMode.NonBlocking)).Status);

        a.Engine.Release(delegation.Grant!); // the client's DELEGRETURN
        await Eventually.TrueAsync(async () => (await b.Engine.OpenAsync(file, new Owner(2, 1), OpenAccess.Write, BreakMode.NonBlocking)).CanProceed,
            TimeSpan.FromSeconds(10), "B's retry finds the token");
    }

    [EtcdFact]
    public async Task TheHistoryFileGetsOneLinePerTokenChange()
    {
        string path = Path.Combine(Path.GetTempPath(), $"lh-history-{Guid.NewGuid():N}");
        var a = await NodeAsync("a", o => o.HistoryFile = path);
        var b = await NodeAsync("b");
        var file = FileKey.From(0x51);
        Assert.True((await a.Engine.OpenAsync(file, new Owner(1, 1), OpenAccess.Read, BreakMode.NonBlocking)).CanProceed);
        Assert.True((await b.Engine.OpenAsync(file, new Owner(2, 1), OpenAccess.Write, BreakMode.Await)).CanProceed);
        await a.DisposeAsync();
        Nodes.Remove(a);

        var lines = File.ReadAllLines(path).Select(l => l.Split(' ')).ToList();
        File.Delete(path);
        Assert.Equal(2, lines.Count);
        Assert.Equal(["a", "51", "0", "15"], lines[0][1..]); // took every right
        Assert.Equal(["a", "51", "15", "3"], lines[1][1..]); // gave the delegation rights to B's Need
        Assert.True(long.Parse(lines[0][0], System.Globalization.CultureInfo.InvariantCulture) < long.Parse(lines[1][0], System.Globalization.CultureInfo.InvariantCulture));
    }

    [EtcdFact]
    public async Task TheFirstNodesHandleKeyAndRootWinAndADifferentRootIsRefused()
    {
        var a = await NodeAsync("a");
        var b = await NodeAsync("b");
        byte[] keyA = [.. Enumerable.Repeat((byte)1, 32)], keyB = [.. Enumerable.Repeat((byte)2, 32)];
        Assert.Equal(keyA, await a.Cluster.ShareHandleKeyAsync(keyA, default));
        Assert.Equal(keyA, await b.Cluster.ShareHandleKeyAsync(keyB, default));

        byte[] root = [1, 2, 3, 4];
        await a.Cluster.CheckRootAsync(root, default);
        await b.Cluster.CheckRootAsync(root, default);
        var e = await Assert.ThrowsAsync<ClusterJoinException>(() => b.Cluster.CheckRootAsync(new byte[] { 1, 2, 3, 5 }, default));
        Assert.Equal("node b exports a different directory than the cluster (its root handle differs from /t/root in etcd)", e.Message);
    }

    [EtcdFact]
    public async Task WriteDelegationOnAIsRecalledByAnAttributeReadOnCAndBKeepsItsRead()
    {
        var a = await NodeAsync("a");
        var b = await NodeAsync("b");
        var c = await NodeAsync("c");
        var file = FileKey.From(0x3c);
        Assert.Equal(GrantStatus.Granted, (await a.DelegateAsync(file, GrantMode.Write)).Status);

        // A GETATTR on C asking for size/change: the host's BreakAsync(OpenRead) needs R, which A's DW conflicts with.
        var read = await c.Engine.BreakAsync(file, FileOperation.OpenRead, new Owner(3, 1), BreakMode.Await).AsTask().WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True(read.CanProceed);
        Assert.Single(a.Holder.Breaks);
        Assert.Equal(TokenRights.None, a.Engine.TokenRightsOf(file) & TokenRights.WriteDelegation);
        Assert.True((c.Engine.TokenRightsOf(file) & TokenRights.Read) != 0);

        // A read open on B needs nothing more from anyone: R conflicts only with DW, which nobody has now.
        long before = a.Holder.Breaks.Count;
        Assert.True((await b.Engine.OpenAsync(file, new Owner(2, 1), OpenAccess.Read, BreakMode.Await)).CanProceed);
        Assert.Equal(before, a.Holder.Breaks.Count);
    }
}
