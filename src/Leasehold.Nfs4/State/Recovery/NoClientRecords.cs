namespace Leasehold.Nfs4.State.Recovery;

/// <summary>
/// The store of a server started without stable storage (unit tests, <c>leasehold demo</c>): it remembers nothing
/// across instances, so every start finds no clients and runs no grace period, and every reclaim is NFS4ERR_NO_GRACE.
/// </summary>
public sealed class NoClientRecords : IClientRecordStore
{
    public RecoveryStart Open() => new(0, []);

    public ValueTask RecordAsync(ReadOnlyMemory<byte> ownerId, string principal) => ValueTask.CompletedTask;

    public ValueTask RemoveAsync(ReadOnlyMemory<byte> ownerId) => ValueTask.CompletedTask;

    public ValueTask EndGraceAsync() => ValueTask.CompletedTask;

    public void Dispose()
    {
    }
}
