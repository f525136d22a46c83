namespace Leasehold.Host.Serving;

/// <summary>Where the server listens. Bound from the "Leasehold:Server" configuration section.</summary>
public sealed class ServerSettings
{
    /// <summary>Address and port. 127.0.0.1:2049: NFS's well-known port, on loopback only until someone decides otherwise.</summary>
    public string Listen { get; set; } = "127.0.0.1:2049";

    public System.Net.IPEndPoint ParseListen()
    {
        if (!System.Net.IPEndPoint.TryParse(Listen, out var endPoint))
            throw new ArgumentException($"Listen address '{Listen}' is not an IP address and port (for example 127.0.0.1:2049).");
        return endPoint;
    }
}
