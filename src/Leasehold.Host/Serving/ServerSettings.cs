using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Leasehold.Host.Serving;

/// <summary>Where the server listens. Bound from the "Server" configuration section.</summary>
public sealed class ServerSettings
{
    /// <summary>NFS's well-known port (RFC 8881 §2.9.3 / IANA), used when <see cref="Listen"/> names no port.</summary>
    public const int DefaultPort = 2049;

    /// <summary>
    /// Address and port: "127.0.0.1:2049", "[::1]:2049", or an address alone for port 2049. 127.0.0.1:2049: NFS's
    /// well-known port, on loopback only until someone decides otherwise. Port 0 asks for any free port (tests use it;
    /// the log line says which).
    /// </summary>
    public string Listen { get; set; } = $"127.0.0.1:{DefaultPort}";

    /// <summary>
    /// Whether a missing export directory may be created (with its parents). Not a setting: the host sets it for the
    /// default ./export and for <c>serve --create</c>, so a mistyped path is refused instead of exported empty.
    /// </summary>
    internal bool CreateExport { get; set; }

    /// <summary>The endpoint <see cref="Listen"/> names. Throws ArgumentException (naming Listen) when it names none.</summary>
    public IPEndPoint ParseListen() => ParseListen(DefaultPort);

    /// <summary><see cref="ParseListen()"/> with another port for an address alone (the admin endpoint's).</summary>
    internal IPEndPoint ParseListen(int defaultPort)
    {
        string text = (Listen ?? "").Trim();
        if (TryParseListen(text, defaultPort, out IPEndPoint? endPoint, out string? problem))
            return endPoint;
#pragma warning disable CA2208 // the setting's name, which the settings check reports
        throw new ArgumentException($"{problem}; write an IP address and port such as 127.0.0.1:{defaultPort} or [::1]:{defaultPort}", nameof(Listen));
#pragma warning restore CA2208
    }

    private static bool TryParseListen(string text, int defaultPort, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IPEndPoint? endPoint, out string? problem)
    {
        endPoint = null;
        problem = null;
        string host;
        string? port = null;
        if (text.StartsWith('['))
        {
            int close = text.IndexOf(']', StringComparison.Ordinal);
            if (close < 0 || (close + 1 < text.Length && text[close + 1] != ':'))
                return Fail("an IPv6 address in brackets must be followed by nothing or :port", out problem);
            host = text[1..close];
            if (close + 1 < text.Length)
                port = text[(close + 2)..];
        }
        else if (text.Count(c => c == ':') > 1)
        {
            host = text; // a bare IPv6 address; its port would need brackets
        }
        else
        {
            int colon = text.LastIndexOf(':');
            host = colon < 0 ? text : text[..colon];
            port = colon < 0 ? null : text[(colon + 1)..];
        }

        if (!IsAddress(host, out IPAddress? address))
            return Fail(host.Length == 0 ? "names no address" : $"{host} is not an IP address", out problem);
        int number = defaultPort;
        if (port is not null && (port.Length == 0 || !port.All(char.IsAsciiDigit)
            || !int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out number) || number > IPEndPoint.MaxPort))
            return Fail(port.Length == 0 ? "the port is empty" : $"port {port} is not a number from 0 to 65535", out problem);
        endPoint = new IPEndPoint(address, number);
        return true;
    }

    /// <summary>Dotted-quad IPv4 or IPv6. Not IPAddress.TryParse alone, which reads "1" as 0.0.0.1 and "127.1" as 127.0.0.1.</summary>
    private static bool IsAddress(string host, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IPAddress? address)
    {
        address = null;
        if (!IPAddress.TryParse(host, out IPAddress? parsed))
            return false;
        if (parsed.AddressFamily == AddressFamily.InterNetwork && (host.Count(c => c == '.') != 3 || !host.All(c => c == '.' || char.IsAsciiDigit(c))))
            return false;
        if (parsed.AddressFamily == AddressFamily.InterNetworkV6 && !host.Contains(':', StringComparison.Ordinal))
            return false;
        address = parsed;
        return true;
    }

    private static bool Fail(string problem, out string? text)
    {
        text = problem;
        return false;
    }
}
