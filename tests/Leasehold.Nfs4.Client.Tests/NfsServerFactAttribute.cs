using System.Net;
using System.Net.Sockets;
using Leasehold.Nfs4.Client;

namespace Leasehold.Nfs4.Client.Tests;

/// <summary>
/// A test that needs a running NFSv4.1 server at LEASEHOLD_TEST_NFS ("host:port/path", e.g. 127.0.0.1:20490/export,
/// what bench/ganesha.sh starts). Skipped, with the reason, when the variable is unset or nothing listens there.
/// </summary>
public sealed class NfsServerFactAttribute : FactAttribute
{
    public const string Variable = "LEASEHOLD_TEST_NFS";

    public NfsServerFactAttribute()
    {
        if (NfsTestServer.Unavailable is { } reason)
            Skip = reason;
    }
}

/// <summary>Reads and probes LEASEHOLD_TEST_NFS once per test run.</summary>
public static class NfsTestServer
{
    private static readonly Lazy<(Nfs4Endpoint? Endpoint, string? Unavailable)> Probe = new(Check);

    public static Nfs4Endpoint Endpoint => Probe.Value.Endpoint ?? throw new InvalidOperationException(Unavailable);

    /// <summary>Why the server tests cannot run, or null when they can.</summary>
    public static string? Unavailable => Probe.Value.Unavailable;

    private static (Nfs4Endpoint?, string?) Check()
    {
        string? text = Environment.GetEnvironmentVariable(NfsServerFactAttribute.Variable);
        if (string.IsNullOrWhiteSpace(text))
            return (null, $"{NfsServerFactAttribute.Variable} is not set; start a server (bench/ganesha.sh start) and set it, e.g. {NfsServerFactAttribute.Variable}=127.0.0.1:20490/export");
        if (!Nfs4Endpoint.TryParse(text, out var endpoint))
            return (null, $"{NfsServerFactAttribute.Variable}='{text}' is not host:port/path");
        if (!IPAddress.TryParse(endpoint!.Host, out var address))
            return (endpoint, null); // a host name: let the tests resolve it and fail loudly if it is wrong
        // A synchronous, bounded probe (attribute constructors cannot await): non-blocking connect, then poll.
        using var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { Blocking = false };
        try
        {
            socket.Connect(new IPEndPoint(address, endpoint.Port));
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress)
        {
        }
        catch (SocketException ex)
        {
            return (null, $"no NFS server reachable at {endpoint.Host}:{endpoint.Port} ({ex.SocketErrorCode}); start one with bench/ganesha.sh start");
        }
        bool connected = socket.Poll(TimeSpan.FromSeconds(2), SelectMode.SelectWrite) && socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error) is 0;
        return connected
            ? (endpoint, null)
            : (null, $"no NFS server reachable at {endpoint.Host}:{endpoint.Port}; start one with bench/ganesha.sh start");
    }
}
