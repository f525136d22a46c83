using System.Net;
using System.Net.Sockets;
using Leasehold.Host.Serving;

namespace Leasehold.Host.Tests;

/// <summary>
/// Issue 6 items 17 and 19: an address without a port means NFS's port 2049, never a random one; what is not an
/// address and port is refused naming it; an address in use is named.
/// </summary>
public sealed class ListenTests : IDisposable
{
    private const string Forms = "write an IP address and port such as 127.0.0.1:2049 or [::1]:2049";
    private readonly Scratch _scratch = new();

    public void Dispose() => _scratch.Dispose();

    [Theory]
    [InlineData("127.0.0.1", "127.0.0.1:2049")]
    [InlineData("127.0.0.1:2049", "127.0.0.1:2049")]
    [InlineData(" 10.1.2.3:20490 ", "10.1.2.3:20490")]
    [InlineData("0.0.0.0", "0.0.0.0:2049")]
    [InlineData("::1", "[::1]:2049")]
    [InlineData("[::1]", "[::1]:2049")]
    [InlineData("[::1]:111", "[::1]:111")]
    [InlineData("127.0.0.1:0", "127.0.0.1:0")]
    public void An_address_without_a_port_means_2049(string listen, string expected)
    {
        Assert.Equal(IPEndPoint.Parse(expected), new ServerSettings { Listen = listen }.ParseListen());
    }

    [Theory]
    [InlineData("127.0.0.1:", "the port is empty")]
    [InlineData("127.0.0.1:65536", "port 65536 is not a number from 0 to 65535")]
    [InlineData("127.0.0.1:-1", "port -1 is not a number from 0 to 65535")]
    [InlineData("127.0.0.1:http", "port http is not a number from 0 to 65535")]
    [InlineData("127.1", "127.1 is not an IP address")]
    [InlineData("1", "1 is not an IP address")]
    [InlineData("localhost:2049", "localhost is not an IP address")]
    [InlineData(":2049", "names no address")]
    [InlineData("", "names no address")]
    [InlineData("[::1", "an IPv6 address in brackets must be followed by nothing or :port")]
    [InlineData("[::1]2049", "an IPv6 address in brackets must be followed by nothing or :port")]
    public void What_is_not_an_address_and_port_is_refused(string listen, string problem)
    {
        var ex = Assert.Throws<ArgumentException>(() => new ServerSettings { Listen = listen }.ParseListen());
        Assert.Equal("Listen", ex.ParamName);
        Assert.StartsWith($"{problem}; {Forms}", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Listen_without_a_port_serves_on_2049()
    {
        _scratch.MakeDirectory("share");
        var address = Scratch.UnusedLoopback();

        await using var server = await LeaseholdCommand.ServeAsync(_scratch.Root, ["serve", "share", "--listen", address.ToString()]);

        Assert.Equal(new IPEndPoint(address, 2049), server.EndPoint);
        using var client = new TcpClient();
        await client.ConnectAsync(server.EndPoint); // really listening there
    }

    [Fact]
    public async Task Listen_without_a_port_is_refused_when_2049_is_taken_and_says_so()
    {
        _scratch.MakeDirectory("share");
        var address = Scratch.UnusedLoopback();
        using var taken = new TcpListener(address, 2049);
        taken.Start();

        var outcome = await LeaseholdCommand.RunAsync(_scratch.Root, ["serve", "share", "--listen", address.ToString()]);

        Assert.Equal(1, outcome.ExitCode);
        Assert.Equal($"leasehold: {address}:2049 is already in use (another server listens there; stop it or choose another --listen)", outcome.ErrorLine);
    }

    [Theory]
    [InlineData("127.0.0.1:99999", "port 99999 is not a number from 0 to 65535")]
    [InlineData("localhost", "localhost is not an IP address")]
    public async Task A_bad_listen_option_is_one_line_naming_it(string listen, string problem)
    {
        var outcome = await LeaseholdCommand.RunAsync(_scratch.Root, ["serve", "--listen", listen]);

        Assert.Equal(2, outcome.ExitCode);
        Assert.Equal($"leasehold: --listen \"{listen}\": {problem}; {Forms}", outcome.ErrorLine);
    }

    [Fact]
    public async Task An_address_in_use_is_named()
    {
        _scratch.MakeDirectory("share");
        using var taken = new TcpListener(Scratch.UnusedLoopback(), 0);
        taken.Start();
        var endPoint = (IPEndPoint)taken.LocalEndpoint;

        var outcome = await LeaseholdCommand.RunAsync(_scratch.Root, ["serve", "share", "--listen", endPoint.ToString()]);

        Assert.Equal(1, outcome.ExitCode);
        Assert.Equal($"leasehold: {endPoint} is already in use (another server listens there; stop it or choose another --listen)", outcome.ErrorLine);
    }

    [Fact]
    public async Task An_admin_address_in_use_is_named_as_the_setting()
    {
        _scratch.MakeDirectory("share");
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var endPoint = (IPEndPoint)taken.LocalEndpoint;

        var outcome = await LeaseholdCommand.RunAsync(_scratch.Root, ["serve", "share", "--listen", $"{Scratch.UnusedLoopback()}:0"],
            new Dictionary<string, string> { ["LEASEHOLD_Admin__Listen"] = endPoint.ToString() });

        Assert.Equal(1, outcome.ExitCode);
        Assert.Equal($"leasehold: Admin:Listen {endPoint} is already in use (another program listens there; choose another port, or leave Admin:Listen out for the admin socket only)", outcome.ErrorLine);
    }

    [Fact]
    public async Task An_address_in_use_is_refused_before_anything_is_created_or_logged()
    {
        // The default export: the one the server would create, with its state directory and handle key beside it.
        using var taken = new TcpListener(Scratch.UnusedLoopback(), 0);
        taken.Start();
        var endPoint = (IPEndPoint)taken.LocalEndpoint;

        var outcome = await LeaseholdCommand.RunAsync(_scratch.Root, ["serve", "--listen", endPoint.ToString()]);

        Assert.Equal(1, outcome.ExitCode);
        Assert.Equal($"leasehold: {endPoint} is already in use (another server listens there; stop it or choose another --listen)", outcome.ErrorLine);
        Assert.Empty(outcome.Stdout); // before, "Created a new file handle signing key" and "Exporting ..." came first
        Assert.False(Directory.Exists(_scratch.PathOf("export")));
        Assert.False(Directory.Exists(_scratch.PathOf(".leasehold-state")));
    }

    [Fact]
    public async Task A_second_server_on_the_same_address_is_refused_naming_it()
    {
        _scratch.MakeDirectory("a");
        _scratch.MakeDirectory("b");
        await using var first = await LeaseholdCommand.ServeAsync(_scratch.Root, ["serve", "a", "--listen", $"{Scratch.UnusedLoopback()}:0"]);

        var outcome = await LeaseholdCommand.RunAsync(_scratch.Root, ["serve", "b", "--listen", first.EndPoint.ToString()]);

        Assert.Equal(1, outcome.ExitCode);
        Assert.Equal($"leasehold: {first.EndPoint} is already in use (another server listens there; stop it or choose another --listen)", outcome.ErrorLine);
    }

    [Fact]
    public async Task An_address_not_on_this_machine_is_named()
    {
        _scratch.MakeDirectory("share");

        // 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never assigned to a real interface.
        var outcome = await LeaseholdCommand.RunAsync(_scratch.Root, ["serve", "share", "--listen", "192.0.2.1:2049"]);

        Assert.Equal(1, outcome.ExitCode);
        Assert.Equal("leasehold: cannot listen on 192.0.2.1:2049: that address is not one of this machine's", outcome.ErrorLine);
    }
}
