using Leasehold.Nfs4.Callbacks;
using Leasehold.Rpc.Server;

namespace Leasehold.Nfs4.State;

/// <summary>Channel attributes as negotiated (channel_attrs4, RFC 8881 §18.36).</summary>
internal sealed record ChannelAttributes(uint HeaderPadSize, uint MaxRequestSize, uint MaxResponseSize, uint MaxResponseSizeCached, uint MaxOperations, uint MaxRequests);

/// <summary>
/// A session (RFC 8881 §2.10): a fore channel with a slot table that gives exactly-once semantics, and a back channel
/// for callbacks (<see cref="BackChannel"/>, which has its own slots and lock). Fore slots are guarded by the
/// session's lock; a slot is "in use" while its request executes.
/// </summary>
internal sealed class Session(byte[] id, NfsClient client, ChannelAttributes fore, Func<byte[], BackChannel> back)
{
    public readonly Lock Sync = new();

    public byte[] Id { get; } = id;

    public NfsClient Client { get; } = client;

    public ChannelAttributes Fore { get; } = fore;

    /// <summary>The back channel: its connections, program, security and slot table.</summary>
    public BackChannel Back { get; } = back(id);

    public Slot[] Slots { get; } = CreateSlots((int)fore.MaxRequests);

    /// <summary>
    /// Connections bound to the fore channel (CREATE_SESSION's own, BIND_CONN_TO_SESSION fore or both, and every
    /// connection a SEQUENCE arrives on). Never used for callbacks: those go only to <see cref="Back"/>'s connections.
    /// </summary>
    public HashSet<IRpcConnection> Connections { get; } = [];

    /// <summary>
    /// Adds <paramref name="connection"/> to <see cref="Connections"/> and, when it is new there, drops the connections
    /// that have ended, so a session whose client reconnects for weeks keeps only the live ones. Takes <see cref="Sync"/>.
    /// </summary>
    public void BindFore(IRpcConnection connection)
    {
        lock (Sync)
        {
            if (Connections.Add(connection))
                Connections.RemoveWhere(static c => c.Closed.IsCancellationRequested);
        }
    }

    public bool Destroyed { get; set; }

    private static Slot[] CreateSlots(int count)
    {
        var slots = new Slot[count];
        for (int i = 0; i < count; i++)
            slots[i] = new Slot();
        return slots;
    }

    public string IdHex => Convert.ToHexString(Id);
}

/// <summary>One slot of the reply cache (§2.10.6.1): the last sequence id seen on it and the reply sent for it.</summary>
internal sealed class Slot
{
    /// <summary>Sequence id of the last request; a new slot has seen 0, so the first request carries 1.</summary>
    public uint SeqId;

    // The reply to SeqId's request (the COMPOUND4res bytes) is the first _cachedLength bytes of _cache; -1: none. The
    // buffer stays with the slot and is reused by its next replies (grown when one does not fit, never past the
    // session's ca_maxresponsesize_cached plus a SEQUENCE reply), so caching a reply allocates nothing once it is big
    // enough. Read and written under the session's lock.
    private byte[] _cache = [];
    private int _cachedLength = -1;

    /// <summary>Whether the reply to <see cref="SeqId"/>'s request is cached. Under the session's lock.</summary>
    public bool HasCachedReply => _cachedLength >= 0;

    /// <summary>Room for a cached reply of <paramref name="length"/> bytes, to be filled at once; it replaces the one cached. Under the session's lock.</summary>
    public Span<byte> CacheReply(int length)
    {
        if (_cache.Length < length)
            _cache = new byte[Math.Max(length, 256)];
        _cachedLength = length;
        return _cache.AsSpan(0, length);
    }

    /// <summary>Forgets the cached reply (a new request took the slot). Under the session's lock.</summary>
    public void ClearCachedReply() => _cachedLength = -1;

    /// <summary>A copy of the cached reply, for a retransmission to send after the lock is released. Under the session's lock.</summary>
    public byte[]? CopyCachedReply() => _cachedLength < 0 ? null : _cache.AsSpan(0, _cachedLength).ToArray();

    /// <summary>A request on this slot is executing: a retransmission of it must wait (NFS4ERR_DELAY).</summary>
    public bool InUse;
}
