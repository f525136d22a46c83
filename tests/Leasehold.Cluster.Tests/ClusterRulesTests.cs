using Google.Protobuf;
using Leasehold.Engine;

namespace Leasehold.Cluster.Tests;

/// <summary>The pure parts: options, the key layout, the fencing arithmetic.</summary>
public sealed class ClusterRulesTests
{
    private static ClusterOptions Valid() => new() { Etcd = ["http://127.0.0.1:2379", "10.0.0.2:2379"], Node = "node-1.a_b" };

    [Fact]
    public void ValidOptionsPass() => Valid().Validate();

    [Theory]
    [InlineData("", "Cluster:Node '' is not a node name ([A-Za-z0-9._-], 1 to 63 characters)")]
    [InlineData("a/b", "Cluster:Node 'a/b' is not a node name ([A-Za-z0-9._-], 1 to 63 characters)")]
    [InlineData("ä", "Cluster:Node 'ä' is not a node name ([A-Za-z0-9._-], 1 to 63 characters)")]
    public void BadNodeNamesAreRefusedWithOneLine(string node, string message)
    {
        var options = Valid();
        options.Node = node;
        Assert.Equal(message, Assert.Throws<ArgumentException>(options.Validate).Message);
    }

    [Fact]
    public void ANodeNameOf63CharactersPassesAnd64DoNot()
    {
        var options = Valid();
        options.Node = new string('n', 63);
        options.Validate();
        options.Node = new string('n', 64);
        Assert.Throws<ArgumentException>(options.Validate);
    }

    [Theory]
    [InlineData("ftp://x:1", "Cluster:Etcd endpoint 'ftp://x:1' is not an http(s)://host:port URL")]
    [InlineData("http://x:1/path", "Cluster:Etcd endpoint 'http://x:1/path' is not an http(s)://host:port URL")]
    public void BadEndpointsAreRefused(string endpoint, string message)
    {
        var options = Valid();
        options.Etcd = [endpoint];
        Assert.Equal(message, Assert.Throws<ArgumentException>(options.Validate).Message);
    }

    [Fact]
    public void NoEndpointAndBadTtlsAreRefused()
    {
        Assert.Equal("Cluster:Etcd names no etcd endpoint", Assert.Throws<ArgumentException>(new ClusterOptions { Node = "a" }.Validate).Message);
        var options = Valid();
        options.LeaseTtl = TimeSpan.FromSeconds(1);
        Assert.StartsWith("Cluster:LeaseTtl", Assert.Throws<ArgumentException>(options.Validate).Message, StringComparison.Ordinal);
        options = Valid();
        options.LeaseTtl = TimeSpan.FromMilliseconds(2500);
        Assert.Throws<ArgumentException>(options.Validate);
        options = Valid();
        options.OpenClaimTtl = TimeSpan.FromSeconds(5);
        Assert.StartsWith("Cluster:OpenClaimTtl", Assert.Throws<ArgumentException>(options.Validate).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void EndpointsWithoutASchemeAreHttp() =>
        Assert.Equal([new Uri("http://127.0.0.1:2379"), new Uri("http://10.0.0.2:2379")], Valid().EndpointUris);

    [Fact]
    public void KeysFollowTheLayout()
    {
        var keys = new ClusterKeys("/lh/", "n1");
        var file = FileKey.From(0xabc);
        Assert.Equal("/lh/nodes/n1", keys.NodeKey.ToStringUtf8());
        Assert.Equal("/lh/handle-key", keys.HandleKey.ToStringUtf8());
        Assert.Equal("/lh/root", keys.Root.ToStringUtf8());
        Assert.Equal("/lh/f/0000000000000abc/", keys.FileRange(file).ToStringUtf8());
        Assert.Equal("/lh/f/0000000000000abc/tok/n2", keys.Token(file, "n2").ToStringUtf8());
        Assert.Equal("/lh/f/0000000000000abc/open/n2", keys.OpenClaim(file, "n2").ToStringUtf8());
        Assert.Equal("/lh/inbox/n2/0000000000000abc/n1", keys.InboxEntry("n2", file, "n1").ToStringUtf8());
        Assert.Equal("/lh/f/00000000000000010000000000000002/tok/n1", keys.Token(new FileKey(1, 2), "n1").ToStringUtf8());
    }

    [Fact]
    public void KeysParseBack()
    {
        var keys = new ClusterKeys("/lh/", "n1");
        var wide = new FileKey(7, 9);
        Assert.True(keys.TryParseFileKey(keys.OpenClaim(wide, "n3"), out var file, out string kind, out string node));
        Assert.Equal((wide, "open", "n3"), (file, kind, node));
        Assert.True(keys.TryParseInboxKey(keys.InboxEntry("n1", FileKey.From(5), "n4"), out file, out string requester));
        Assert.Equal((FileKey.From(5), "n4"), (file, requester));
        Assert.False(keys.TryParseInboxKey(keys.InboxEntry("n2", FileKey.From(5), "n4"), out _, out _)); // another node's inbox
        Assert.False(keys.TryParseFileKey(ByteString.CopyFromUtf8("/lh/f/xyz/tok/n1"), out _, out _, out _));
        Assert.False(keys.TryParseFileKey(ByteString.CopyFromUtf8("/lh/f/0000000000000abc/lock/n1"), out _, out _, out _));
    }

    [Fact]
    public void RequestsAndRightsRoundTrip()
    {
        Assert.True(ClusterKeys.TryParseRequest(ClusterKeys.Request(TokenRights.Write, TokenStrength.Want), out var rights, out var strength));
        Assert.Equal((TokenRights.Write, TokenStrength.Want), (rights, strength));
        Assert.False(ClusterKeys.TryParseRequest(ByteString.CopyFrom(1, 9), out _, out _));
        Assert.Equal(TokenRights.All, ClusterKeys.ParseRights(ClusterKeys.Rights(TokenRights.All)));
        Assert.Equal(TokenRights.None, ClusterKeys.ParseRights(ByteString.Empty));
    }

    [Theory]
    [InlineData("/a/", "/a0")]
    [InlineData("a\u00ff", "b")]
    public void RangeEndIsThePrefixPlusOne(string prefix, string end) =>
        Assert.Equal(ByteString.CopyFrom(System.Text.Encoding.Latin1.GetBytes(end)), ClusterKeys.RangeEnd(ByteString.CopyFrom(System.Text.Encoding.Latin1.GetBytes(prefix))));

    [Theory]
    [InlineData(10, 5000, 8900)]   // the default: F = s + 9.9 - 1.0
    [InlineData(3, 1500, 2470)]    // F = s + 2.97 - 0.5
    [InlineData(2, 1000, 1480)]    // F = s + 1.98 - 0.5
    [InlineData(60, 30000, 53400)] // F = s + 59.4 - 6
    public void FencePointsAreHalfTheTtlAndTheTtlLessDriftAndMargin(int ttlSeconds, int stopMs, int revokedMs)
    {
        var ttl = TimeSpan.FromSeconds(ttlSeconds);
        Assert.Equal(TimeSpan.FromMilliseconds(stopMs), FenceClock.StopGranting(ttl));
        Assert.Equal(TimeSpan.FromMilliseconds(revokedMs), FenceClock.Revoked(ttl));
        Assert.True(FenceClock.StopGranting(ttl) < FenceClock.Revoked(ttl));
        Assert.True(FenceClock.Revoked(ttl) < ttl * (1 - FenceClock.Rho));
    }

    [Fact]
    public void RecallBreakersOwnNothingLocal()
    {
        var breaker = TokenTable.Breaker("b");
        Assert.Equal(TokenTable.ClusterBreakerGroup, breaker.Group);
        Assert.NotEqual(TokenTable.Breaker("c"), breaker);
        Assert.False(OwnerMatchers.SameGroup.BreakerOwns(breaker, new Owner(1, 1)));
    }
}
