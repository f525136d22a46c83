using System.Globalization;
using System.Net;

namespace Leasehold.Nfs4.Client;

/// <summary>
/// "host:port/path", as pynfs takes it: where the server listens and which path (from the pseudo-root) to use.
/// The port defaults to 2049 and the path to "/".
/// </summary>
public sealed record Nfs4Endpoint(string Host, int Port, string Path)
{
    public const int DefaultPort = 2049;

    public static Nfs4Endpoint Parse(string text)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(text);
        int slash = text.IndexOf('/', StringComparison.Ordinal);
        string hostPort = slash < 0 ? text : text[..slash];
        string path = slash < 0 ? "/" : text[slash..];
        string host = hostPort;
        int port = DefaultPort;
        int colon = hostPort.LastIndexOf(':');
        if (colon > 0 && !hostPort.EndsWith(']'))
        {
            host = hostPort[..colon];
            if (!int.TryParse(hostPort[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535)
                throw new FormatException($"'{text}' has a bad port.");
        }
        host = host.Trim('[', ']');
        if (host.Length == 0)
            throw new FormatException($"'{text}' has no host.");
        return new Nfs4Endpoint(host, port, path);
    }

    public static bool TryParse(string? text, out Nfs4Endpoint? endpoint)
    {
        endpoint = null;
        if (string.IsNullOrWhiteSpace(text))
            return false;
        try
        {
            endpoint = Parse(text);
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    /// <summary>The IP endpoint: the host itself when it is an address, else its first DNS address.</summary>
    public async Task<IPEndPoint> ResolveAsync(CancellationToken cancellationToken = default)
    {
        if (IPAddress.TryParse(Host, out var address))
            return new IPEndPoint(address, Port);
        var addresses = await Dns.GetHostAddressesAsync(Host, cancellationToken).ConfigureAwait(false);
        if (addresses.Length == 0)
            throw new IOException($"'{Host}' has no address.");
        return new IPEndPoint(addresses[0], Port);
    }

    public override string ToString() => $"{Host}:{Port}{Path}";
}
