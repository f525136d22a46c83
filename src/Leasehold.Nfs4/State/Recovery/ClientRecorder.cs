using Microsoft.Extensions.Logging;

namespace Leasehold.Nfs4.State.Recovery;

/// <summary>
/// Keeps the <see cref="IClientRecordStore"/> in step with the client table (RFC 8881 §8.4.2.1): a client is recorded at
/// its RECLAIM_COMPLETE and its row removed when it goes (<see cref="NfsClient.Recorded"/> says whether it has one). A
/// write or removal that fails (a full disk) never fails the operation: it is logged and tried again by
/// <see cref="RetryAsync"/>, which the server's heartbeat calls.
/// </summary>
internal sealed class ClientRecorder(IClientRecordStore store, ClientTable clients, Func<NfsClient, bool> holdsState, ILogger logger)
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte[]> _unremoved = new(); // rows a failed removal left behind
    private int _recordsToRetry; // 1 after a failed RecordAsync: the next retry looks for unrecorded clients

    /// <summary>Records a client at its RECLAIM_COMPLETE (before it is answered), so it may reclaim after a restart.</summary>
    public async ValueTask RecordAsync(NfsClient client)
    {
        try
        {
            await store.RecordAsync(client.OwnerId, client.Principal).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is ClientRecordStoreException or IOException)
        {
            Log.RecordFailed(logger, ex, client.ClientId);
            Volatile.Write(ref _recordsToRetry, 1);
            return;
        }
        _unremoved.TryRemove(Convert.ToHexString(client.OwnerId), out _);
        bool gone;
        lock (client.Sync)
        {
            gone = client.Expired;
            client.Recorded = !gone;
        }
        if (gone)
            await RemoveAsync(client).ConfigureAwait(false); // destroyed or expired while the row was written
    }

    /// <summary>The client is gone (destroyed, expired, replaced): its row goes too, if it has one.</summary>
    public async Task ForgetAsync(NfsClient client)
    {
        bool recorded;
        lock (client.Sync)
        {
            recorded = client.Recorded;
            client.Recorded = false;
        }
        if (recorded)
            await RemoveAsync(client).ConfigureAwait(false);
    }

    /// <summary>
    /// At the end of grace, before the store forgets the clients not recorded in this epoch: a reclaimer that holds
    /// reclaimed state but has not sent RECLAIM_COMPLETE yet is recorded again, so it can reclaim after another restart.
    /// </summary>
    public async ValueTask RecordReclaimersHoldingStateAsync()
    {
        foreach (var client in clients.Reclaimers())
        {
            if (!client.ReclaimComplete && holdsState(client))
                await store.RecordAsync(client.OwnerId, client.Principal).ConfigureAwait(false);
        }
    }

    /// <summary>Records and removals that failed, tried again until they succeed.</summary>
    public async Task RetryAsync()
    {
        foreach (var (key, owner) in _unremoved)
        {
            try
            {
                await store.RemoveAsync(owner).ConfigureAwait(false);
                _unremoved.TryRemove(key, out _);
            }
            catch (Exception ex) when (ex is ClientRecordStoreException or IOException)
            {
                return; // still failing: next heartbeat
            }
        }
        if (Interlocked.Exchange(ref _recordsToRetry, 0) == 0)
            return;
        foreach (var client in clients.Unrecorded())
        {
            try
            {
                await store.RecordAsync(client.OwnerId, client.Principal).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is ClientRecordStoreException or IOException)
            {
                Volatile.Write(ref _recordsToRetry, 1);
                return;
            }
            lock (client.Sync)
                client.Recorded = !client.Expired;
        }
    }

    private async ValueTask RemoveAsync(NfsClient client)
    {
        try
        {
            await store.RemoveAsync(client.OwnerId).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is ClientRecordStoreException or IOException)
        {
            _unremoved[Convert.ToHexString(client.OwnerId)] = client.OwnerId;
            Log.RecordRemovalFailed(logger, ex, client.ClientId);
        }
    }
}
