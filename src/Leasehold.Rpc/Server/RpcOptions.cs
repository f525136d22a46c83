namespace Leasehold.Rpc.Server;

/// <summary>Limits of the RPC layer. Every default says where it comes from; <see cref="Validate"/> rejects nonsense.</summary>
public sealed class RpcOptions
{
    /// <summary>
    /// Largest record accepted, summed over its fragments. 2 MiB: a 1 MiB WRITE (the largest wsize Linux negotiates)
    /// plus its COMPOUND fits with room to spare. A bigger record closes the connection, since the stream cannot be
    /// resynchronised without reading it all.
    /// </summary>
    public int MaxRecordSize { get; set; } = 2 * 1024 * 1024;

    /// <summary>Fragments in one record. 1024: real clients send one; this only stops a peer feeding empty fragments forever.</summary>
    public int MaxFragmentsPerRecord { get; set; } = 1024;

    /// <summary>
    /// Calls executing at once on one connection; the connection stops reading when it is reached (back-pressure).
    /// 64: the Linux client's default NFSv4.1 session slot count.
    /// </summary>
    public int MaxCallsInFlightPerConnection { get; set; } = 64;

    /// <summary>Open connections; more are closed on accept with a warning. 1024 is well above a Linux client's one or two per mount.</summary>
    public int MaxConnections { get; set; } = 1024;

    public void Validate()
    {
        if (MaxRecordSize is < 1024 or > 64 * 1024 * 1024)
            throw new ArgumentOutOfRangeException(nameof(MaxRecordSize), MaxRecordSize, "MaxRecordSize must be between 1 KiB and 64 MiB.");
        if (MaxFragmentsPerRecord < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxFragmentsPerRecord), MaxFragmentsPerRecord, "MaxFragmentsPerRecord must be positive.");
        if (MaxCallsInFlightPerConnection is < 1 or > 4096)
            throw new ArgumentOutOfRangeException(nameof(MaxCallsInFlightPerConnection), MaxCallsInFlightPerConnection, "MaxCallsInFlightPerConnection must be between 1 and 4096.");
        if (MaxConnections < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxConnections), MaxConnections, "MaxConnections must be positive.");
    }
}
