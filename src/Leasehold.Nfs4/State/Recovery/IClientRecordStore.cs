namespace Leasehold.Nfs4.State.Recovery;

/// <summary>
/// Stable storage of the clients that may hold state (RFC 8881 §8.4.2.1, "edge conditions"): a client is recorded at
/// its first global RECLAIM_COMPLETE and forgotten when it goes away (DESTROY_CLIENTID, lease expiry, replacement by
/// a new incarnation of the same co_ownerid). After a restart, the recorded clients may reclaim during the grace period;
/// nobody else may. One instance per server run; calls may come from several threads at once.
/// </summary>
public interface IClientRecordStore : IDisposable
{
    /// <summary>
    /// Opens the store for a new server instance: starts a new boot epoch and returns the clients recorded by earlier
    /// instances (those of an instance whose grace period never ended included). Throws
    /// <see cref="ClientRecordStoreException"/> (a one-line message) when the store is unreadable or cannot be written.
    /// </summary>
    RecoveryStart Open();

    /// <summary>
    /// Records (or re-records, in this epoch) the client named by co_ownerid <paramref name="ownerId"/> (1 to 1024
    /// bytes) with its <paramref name="principal"/>; durable when the returned task completes. Throws
    /// <see cref="ClientRecordStoreException"/> when the store cannot be written (a full disk, an I/O error).
    /// </summary>
    ValueTask RecordAsync(ReadOnlyMemory<byte> ownerId, string principal);

    /// <summary>Forgets the client (no error if it was not recorded); throws <see cref="ClientRecordStoreException"/> like <see cref="RecordAsync"/>.</summary>
    ValueTask RemoveAsync(ReadOnlyMemory<byte> ownerId);

    /// <summary>
    /// The grace period is over: forgets every client not recorded in this epoch (those that did not come back to
    /// reclaim), so the next start does not wait for them.
    /// </summary>
    ValueTask EndGraceAsync();
}

/// <summary>A recorded client: its co_ownerid and the principal that made it ("sys:&lt;uid&gt;" or "none").</summary>
public sealed record ClientRecord(byte[] OwnerId, string Principal);

/// <summary>What <see cref="IClientRecordStore.Open"/> found: this instance's boot epoch (1, 2, ...; 0 for a store that keeps nothing) and the clients that may reclaim.</summary>
public sealed record RecoveryStart(long Epoch, IReadOnlyList<ClientRecord> Reclaimable);

/// <summary>The client record store cannot be read or written; the message is one line that names the file and what to do.</summary>
public sealed class ClientRecordStoreException : Exception
{
    public ClientRecordStoreException()
    {
    }

    public ClientRecordStoreException(string message)
        : base(message)
    {
    }

    public ClientRecordStoreException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
