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
    /// Calls on one connection that are executing or whose replies are not yet written to the socket; the connection
    /// stops reading when it is reached (back-pressure), so a peer that never reads its replies stops being read.
    /// 64: the Linux client's default NFSv4.1 session slot count.
    /// </summary>
    public int MaxCallsInFlightPerConnection { get; set; } = 64;

    /// <summary>
    /// Calls this server sent on one connection (<see cref="IRpcConnection.CallAsync"/>) and still waiting for their
    /// replies; past it a call is refused without being sent. 64: four NFSv4.1 sessions' worth of back-channel slots
    /// at the 16 the server grants each; the program's own slot table is the real bound, this one only keeps a
    /// misbehaving program from queueing without end.
    /// </summary>
    public int MaxOutgoingCallsPerConnection { get; set; } = 64;

    /// <summary>
    /// Bytes of replies one connection may have waiting to be written before it stops reading calls. 4 MiB: Linux's
    /// largest TCP send buffer (tcp_wmem); a longer queue adds latency, not throughput. A single reply larger than
    /// this (a 1 MiB READ with a smaller limit) is still sent: the bound applies before a call is read, not to its reply.
    /// </summary>
    public int MaxQueuedReplyBytesPerConnection { get; set; } = 4 * 1024 * 1024;

    /// <summary>
    /// Bytes of replies all connections together may have waiting to be written. Above it, a connection that has
    /// replies of its own waiting reads no new call until they are written; connections whose peers read their
    /// replies go on. 256 MiB: 64 connections at their own bound. Calls already running still add their replies, so
    /// the true peak is this plus what <see cref="MaxCallsInFlightPerConnection"/> running calls per connection produce.
    /// </summary>
    public long MaxQueuedReplyBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>
    /// Open connections. At the limit a new connection closes the least recently active connection that has no call
    /// executing (those never bound to a session first, see <see cref="IRpcConnection.MarkBound"/>), as knfsd's
    /// svc_check_conn_limits does; only when every connection is executing a call is the new one refused.
    /// 1024 is well above a Linux client's one or two per mount.
    /// </summary>
    public int MaxConnections { get; set; } = 1024;

    /// <summary>
    /// A connection never bound to a session that has received no call and written no reply for this long is closed.
    /// 6 min: knfsd's svc_conn_age_period (it closes such connections after 6 to 12 minutes).
    /// </summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(6);

    /// <summary>
    /// The same for a connection the program marked bound (<see cref="IRpcConnection.MarkBound"/>). 30 min: a client
    /// holding a session sends SEQUENCE at least once per lease (90 s by default), so a bound connection this quiet
    /// belongs to a client whose lease ran out long ago, or to one that talks on another connection and binds again.
    /// </summary>
    public TimeSpan BoundIdleTimeout { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>
    /// Warnings about one peer's traffic logged per <see cref="WarningWindow"/>; the rest are counted and reported in
    /// one summary line when the window ends. 10: the burst of the Linux kernel's net_ratelimit().
    /// </summary>
    public int MaxWarningsPerPeer { get; set; } = 10;

    /// <summary>The window of <see cref="MaxWarningsPerPeer"/>. 1 min: one flood costs at most 11 lines a minute per peer.</summary>
    public TimeSpan WarningWindow { get; set; } = TimeSpan.FromMinutes(1);

    public void Validate()
    {
        if (MaxRecordSize is < 1024 or > 64 * 1024 * 1024)
            throw new ArgumentOutOfRangeException(nameof(MaxRecordSize), MaxRecordSize, "MaxRecordSize must be between 1 KiB and 64 MiB.");
        if (MaxFragmentsPerRecord < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxFragmentsPerRecord), MaxFragmentsPerRecord, "MaxFragmentsPerRecord must be positive.");
        if (MaxCallsInFlightPerConnection is < 1 or > 4096)
            throw new ArgumentOutOfRangeException(nameof(MaxCallsInFlightPerConnection), MaxCallsInFlightPerConnection, "MaxCallsInFlightPerConnection must be between 1 and 4096.");
        if (MaxOutgoingCallsPerConnection is < 1 or > 4096)
            throw new ArgumentOutOfRangeException(nameof(MaxOutgoingCallsPerConnection), MaxOutgoingCallsPerConnection, "MaxOutgoingCallsPerConnection must be between 1 and 4096.");
        if (MaxQueuedReplyBytesPerConnection < 4096)
            throw new ArgumentOutOfRangeException(nameof(MaxQueuedReplyBytesPerConnection), MaxQueuedReplyBytesPerConnection, "MaxQueuedReplyBytesPerConnection must be at least 4 KiB.");
        if (MaxQueuedReplyBytes < MaxQueuedReplyBytesPerConnection)
            throw new ArgumentOutOfRangeException(nameof(MaxQueuedReplyBytes), MaxQueuedReplyBytes, "MaxQueuedReplyBytes must be at least MaxQueuedReplyBytesPerConnection.");
        if (MaxConnections < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxConnections), MaxConnections, "MaxConnections must be positive.");
        if (IdleTimeout < TimeSpan.FromSeconds(1) || IdleTimeout > TimeSpan.FromDays(1))
            throw new ArgumentOutOfRangeException(nameof(IdleTimeout), IdleTimeout, "IdleTimeout must be between 1 s and 1 day.");
        if (BoundIdleTimeout < IdleTimeout || BoundIdleTimeout > TimeSpan.FromDays(7))
            throw new ArgumentOutOfRangeException(nameof(BoundIdleTimeout), BoundIdleTimeout, "BoundIdleTimeout must be at least IdleTimeout and at most 7 days.");
        if (MaxWarningsPerPeer < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxWarningsPerPeer), MaxWarningsPerPeer, "MaxWarningsPerPeer must be positive.");
        if (WarningWindow < TimeSpan.FromSeconds(1) || WarningWindow > TimeSpan.FromDays(1))
            throw new ArgumentOutOfRangeException(nameof(WarningWindow), WarningWindow, "WarningWindow must be between 1 s and 1 day.");
    }
}
