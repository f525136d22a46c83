using Leasehold.Host.Serving;
using Leasehold.Nfs4.Client;
using Leasehold.Rpc.Messages;
using Leasehold.Rpc.Server;
using Microsoft.Extensions.Hosting;

namespace Leasehold.IntegrationTests;

/// <summary>A server allowed three connections, so the connection limit is reached with a handful of sockets.</summary>
public sealed class ThreeConnectionServer : ServerFixture
{
    protected override void Configure(IDictionary<string, string?> settings) => settings["Rpc:MaxConnections"] = "3";
}

/// <summary>
/// The listener's limits seen through the real server (issue 6, items 10 and 11): a second server cannot take the
/// port of a running one, and at the connection limit a newcomer closes an idle connection without a session rather
/// than the older one that carries the fixture's session.
/// </summary>
public sealed class ListenerLimitsTests(ThreeConnectionServer fx) : IClassFixture<ThreeConnectionServer>
{
    [Fact]
    public async Task A_second_server_on_the_same_address_fails_to_start_and_the_first_keeps_serving()
    {
        string root = Path.Join(Path.GetTempPath(), $"leasehold-it-second-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path.Join(root, "export"));
        try
        {
            var builder = ServeCommand.BuildHost(configFile: null, new Dictionary<string, string?>
            {
                ["Export:Path"] = Path.Join(root, "export"),
                ["Export:StateDirectory"] = Path.Join(root, "state"),
                ["Server:Listen"] = fx.EndPoint.ToString(),
                ["Logging:LogLevel:Default"] = "None",
            });
            using var second = builder.Build();
            var ex = await Assert.ThrowsAsync<RpcListenException>(() => second.StartAsync().Bounded());
            Assert.StartsWith($"Cannot listen on {fx.EndPoint}: the address is already in use", ex.Message);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
        Assert.Equal(NfsStat4.Ok, await fx.Session.RenewAsync().Bounded());
    }

    [Fact]
    public async Task At_the_limit_a_newcomer_closes_an_idle_connection_without_a_session_not_the_older_one_with_it()
    {
        // The fixture's session connection is the oldest and, after the two calls below, the least recently active.
        await using var first = await fx.ConnectRawAsync();
        Assert.Equal(AcceptStat.Success, (await first.CallAsync(4, 0, []).Bounded()).Accept);
        await using var second = await fx.ConnectRawAsync();
        Assert.Equal(AcceptStat.Success, (await second.CallAsync(4, 0, []).Bounded()).Accept);

        await using var newcomer = await fx.ConnectRawAsync();
        Assert.Equal(AcceptStat.Success, (await newcomer.CallAsync(4, 0, []).Bounded()).Accept);
        await first.Closed.Bounded();
        Assert.Equal(NfsStat4.Ok, await fx.Session.RenewAsync().Bounded());
        Assert.Equal(AcceptStat.Success, (await second.CallAsync(4, 0, []).Bounded()).Accept);
    }
}
