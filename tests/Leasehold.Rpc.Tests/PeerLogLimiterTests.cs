using System.Net;
using Leasehold.Rpc.Server;
using Leasehold.Testing;

namespace Leasehold.Rpc.Tests;

/// <summary>The per-peer log rate limit on a manual clock: a burst per window, then one summary with the count.</summary>
public sealed class PeerLogLimiterTests
{
    private readonly ManualTimeProvider _clock = new();
    private readonly List<(string Peer, long Count, TimeSpan Span)> _reports = [];
    private static readonly IPEndPoint Peer = new(IPAddress.Parse("192.0.2.7"), 700);

    private PeerLogLimiter Create(int burst = 10) =>
        new(burst, TimeSpan.FromMinutes(1), _clock, (peer, count, span) => _reports.Add((peer, count, span)));

    private static int Allowed(PeerLogLimiter limiter, EndPoint peer, int times) =>
        Enumerable.Range(0, times).Count(_ => limiter.ShouldLog(peer));

    [Fact]
    public void A_flood_lets_the_burst_through_and_reports_the_rest_when_the_window_ends()
    {
        using var limiter = Create();
        Assert.Equal(10, Allowed(limiter, Peer, 1000));
        Assert.Empty(_reports);

        _clock.Advance(TimeSpan.FromSeconds(59));
        Assert.Empty(_reports);
        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal([("192.0.2.7", 990L, TimeSpan.FromMinutes(1))], _reports);
        Assert.Equal(0, _clock.LiveTimers); // nothing left to report, no timer left
    }

    [Fact]
    public void The_next_window_starts_afresh_and_its_first_line_brings_the_previous_count()
    {
        using var limiter = Create(burst: 2);
        Assert.Equal(2, Allowed(limiter, Peer, 5));
        _clock.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(0, Allowed(limiter, Peer, 4));

        _clock.Advance(TimeSpan.FromSeconds(30)); // the timer reports the 7 at the window's end
        Assert.Equal([("192.0.2.7", 7L, TimeSpan.FromMinutes(1))], _reports);
        Assert.Equal(2, Allowed(limiter, Peer, 3));
        _clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(("192.0.2.7", 1L, TimeSpan.FromMinutes(1)), _reports[^1]);
    }

    [Fact]
    public void Peers_are_told_apart_by_address_not_port()
    {
        using var limiter = Create(burst: 3);
        Assert.Equal(3, Allowed(limiter, new IPEndPoint(IPAddress.Loopback, 1000), 2) + Allowed(limiter, new IPEndPoint(IPAddress.Loopback, 2000), 2));
        Assert.Equal(3, Allowed(limiter, new IPEndPoint(IPAddress.IPv6Loopback, 1000), 5));
    }

    [Fact]
    public void Disposing_reports_what_is_pending()
    {
        var limiter = Create(burst: 1);
        Allowed(limiter, Peer, 4);
        _clock.Advance(TimeSpan.FromSeconds(20));
        limiter.Dispose();
        Assert.Equal([("192.0.2.7", 3L, TimeSpan.FromSeconds(20))], _reports);
        Assert.Equal(0, _clock.LiveTimers);
    }

    [Fact]
    public void Beyond_the_tracked_peers_the_rest_share_one_budget()
    {
        using var limiter = Create(burst: 1);
        for (int i = 0; i < PeerLogLimiter.MaxPeers; i++)
            Assert.True(limiter.ShouldLog(new IPEndPoint(new IPAddress(0x0A000000u + (uint)i), 1)));
        Assert.True(limiter.ShouldLog(new IPEndPoint(IPAddress.Parse("203.0.113.1"), 1)));
        Assert.False(limiter.ShouldLog(new IPEndPoint(IPAddress.Parse("203.0.113.2"), 1)));

        _clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal([(PeerLogLimiter.OtherPeers, 1L, TimeSpan.FromMinutes(1))], _reports);
    }
}
