using System.Net;

namespace Leasehold.Host.Admin;

/// <summary>
/// The admin endpoint (the "Admin" settings section): a Unix socket in the state directory, always on unless
/// <see cref="Socket"/> is off, readable and writable by the server's user only; and HTTP over TCP when
/// <see cref="Listen"/> names an address, which must be a loopback one unless <see cref="AllowRemote"/> says otherwise.
/// Over the socket, views need no secret; every change, and everything over TCP, needs the token from
/// <see cref="AdminToken.FileName"/> in the state directory.
/// </summary>
public sealed class AdminSettings
{
    /// <summary>Default TCP port when <see cref="Listen"/> names none.</summary>
    public const int DefaultPort = 9049;

    /// <summary>The socket's file name in the state directory.</summary>
    public const string SocketFileName = "admin.sock";

    /// <summary>Serve the admin endpoint on the Unix socket &lt;state directory&gt;/admin.sock (mode 0600).</summary>
    public bool Socket { get; set; } = true;

    /// <summary>
    /// HTTP on this address and port too ("127.0.0.1:9049", "[::1]:9049", an address alone for port 9049); none by default.
    /// Every request over it needs the token.
    /// </summary>
    public string? Listen { get; set; }

    /// <summary>
    /// Collect the layers' metrics: /metrics (OpenTelemetry's Prometheus exporter) and the status page's rates. Off, no
    /// listener is attached to any meter, so instruments record nothing (/metrics is then 404).
    /// </summary>
    public bool Metrics { get; set; } = true;

    /// <summary>
    /// With <see cref="Metrics"/>: collect leasehold.nfs.operation.duration, the histogram of each operation's time, by
    /// operation. It is most of what metrics cost: with it off, operations are still counted, but the request path reads
    /// no clock and records no duration (docs/benchmarks.md "Metrics overhead": metrics cost a metadata COMPOUND about
    /// 0.45 µs of CPU with it, about 1 % of the COMPOUND on a 2-vCPU machine, and 0.06 µs without).
    /// </summary>
    public bool OperationDurations { get; set; } = true;

    /// <summary>Let <see cref="Listen"/> name an address other than loopback (the token still guards it; use TLS in front).</summary>
    public bool AllowRemote { get; set; }

    /// <summary>Checks the settings: throws ArgumentException naming the key.</summary>
    public void Validate() => _ = ParseListen();

    /// <summary>The endpoint <see cref="Listen"/> names, or null when none. Throws ArgumentException for a bad or non-loopback address.</summary>
    public IPEndPoint? ParseListen()
    {
        if (string.IsNullOrWhiteSpace(Listen))
            return null;
        var settings = new Serving.ServerSettings { Listen = Listen };
        IPEndPoint endPoint = settings.ParseListen(DefaultPort);
        if (!IPAddress.IsLoopback(endPoint.Address) && !AllowRemote)
            throw new ArgumentException($"{endPoint} is not a loopback address: the admin endpoint listens on 127.0.0.1 or ::1 unless Admin:AllowRemote is true", nameof(Listen));
        return endPoint;
    }
}
