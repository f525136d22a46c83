using Leasehold.Export;
using Leasehold.Nfs4.Callbacks;
using Leasehold.Nfs4.Protocol;

namespace Leasehold.Nfs4.State.Offload;

/// <summary>
/// The asynchronous COPYs (RFC 7862 §15.2.3) of every client: started here, found by OFFLOAD_STATUS and OFFLOAD_CANCEL,
/// ended by CB_OFFLOAD. By RFC 7862 §4.8 a copy stateid is valid until the client cancels the copy (OFFLOAD_CANCEL),
/// answers its CB_OFFLOAD, or goes away, or the server restarts; until then OFFLOAD_STATUS reports on it, and after
/// it answers NFS4ERR_BAD_STATEID (as knfsd since 6.12).
/// </summary>
/// <remarks>
/// <para>Bounds: at most <see cref="MaxPerClient"/> copies of one client and <see cref="MaxRunning"/> in all run at
/// once; a COPY beyond them is NFS4ERR_DELAY, as knfsd answers when its pending copies outnumber its threads (commit
/// aadc3bbea163, "NFSD: Limit the number of concurrent async COPY operations"). Each running copy blocks one thread
/// in copy_file_range for up to a chunk at a time; 16 keeps a small server's disk queue, not its CPUs, the limit.</para>
/// <para>A copy runs on a thread of its own (LongRunning), not a pool thread. Cancellation (OFFLOAD_CANCEL, the client
/// expiring or destroyed, the server stopping) is seen between two chunks of the copy, so it stops within one chunk's
/// time; a cancelled copy gets no CB_OFFLOAD (knfsd sends none either: the client asked, or is gone).</para>
/// <para>Guarded by one lock, held only for table updates, never across a copy or a callback.</para>
/// </remarks>
internal sealed class OffloadTable(Nfs4Server server) : IDisposable
{
    private readonly Lock _lock = new();
    private readonly Dictionary<StateKey, Offload> _byKey = [];
    private readonly HashSet<Offload> _running = [];
    private readonly Dictionary<NfsClient, int> _runningByClient = [];
    private readonly CancellationTokenSource _stopping = new();

    /// <summary>Copies of one client that may run at once (default 4).</summary>
    public int MaxPerClient { get; set; } = 4;

    /// <summary>Copies of all clients that may run at once (default 16).</summary>
    public int MaxRunning { get; set; } = 16;

    /// <summary>Copies running now (tests).</summary>
    public int RunningCount
    {
        get
        {
            lock (_lock)
                return _running.Count;
        }
    }

    /// <summary>
    /// Starts <paramref name="copy"/> in the background as an offload of <paramref name="client"/> onto
    /// <paramref name="destination"/>, or returns null when the bounds are reached or the server is stopping (the caller
    /// answers NFS4ERR_DELAY). <paramref name="held"/> (the COPY's I/O registrations) is disposed when the copy stops.
    /// The caller then waits for <see cref="Offload.Started"/> and tells the offload how COPY was answered
    /// (<see cref="Answered"/>): only an offload answered asynchronously gets a CB_OFFLOAD.
    /// </summary>
    public Offload? TryStart(NfsClient client, FileHandle destination, Func<Offload, ValueTask<FsResult<CopyOutcome>>> copy, IDisposable? held)
    {
        Offload offload;
        lock (_lock)
        {
            _runningByClient.TryGetValue(client, out int mine);
            if (_stopping.IsCancellationRequested || client.Expired || _running.Count >= MaxRunning || mine >= MaxPerClient)
                return null;
            var key = server.States.NewKey();
            offload = new Offload(new StateId(1, key.High, key.Low), client, destination);
            _byKey[key] = offload;
            _running.Add(offload);
            _runningByClient[client] = mine + 1;
            // Set under the lock, so that StopAsync never sees the offload without its task.
            offload.Run = Task.Factory.StartNew(() => RunAsync(offload, copy, held), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
        }
        return offload;
    }

    /// <summary>COPY's answer: true when it replied with the copy stateid (CB_OFFLOAD follows), false when it answered the result itself.</summary>
    public static void Answered(Offload offload, bool asynchronously) => offload.SetAnswered(asynchronously);

    /// <summary>The client's offload named by <paramref name="stateId"/> whose destination is <paramref name="destination"/>, or null (NFS4ERR_BAD_STATEID).</summary>
    public Offload? Find(NfsClient client, StateId stateId, FileHandle destination)
    {
        lock (_lock)
        {
            return _byKey.TryGetValue(new StateKey(stateId.OtherHigh, stateId.OtherLow), out var found) && found.Client == client && found.Destination == destination
                ? found
                : null;
        }
    }

    /// <summary>
    /// OFFLOAD_CANCEL: forgets the offload (its stateid is invalid from now on), stops its copy and waits until it has
    /// stopped, so that the destination no longer changes when the client hears back. No CB_OFFLOAD follows.
    /// </summary>
    public async Task CancelAsync(Offload offload)
    {
        Forget(offload);
        offload.Cancel();
        await offload.Run.ConfigureAwait(false);
    }

    /// <summary>The client is gone (expired, destroyed): its copies stop, without waiting, and their stateids go.</summary>
    public void CancelAll(NfsClient client)
    {
        List<Offload> mine;
        lock (_lock)
        {
            mine = [.. _byKey.Values.Where(o => o.Client == client)];
            foreach (var offload in mine)
                _byKey.Remove(new StateKey(offload.StateId.OtherHigh, offload.StateId.OtherLow));
        }
        foreach (var offload in mine)
            offload.Cancel();
    }

    /// <summary>Server shutdown: every copy stops and is waited for; nothing new starts, and no CB_OFFLOAD goes out.</summary>
    public async Task StopAsync()
    {
        List<Offload> all;
        lock (_lock)
        {
            _stopping.Cancel();
            all = [.. _running, .. _byKey.Values];
            _byKey.Clear();
        }
        foreach (var offload in all)
            offload.Cancel();
        await Task.WhenAll(all.Select(o => o.Run)).ConfigureAwait(false);
    }

    /// <summary>Frees the stop signal; after <see cref="StopAsync"/>.</summary>
    public void Dispose() => _stopping.Dispose();

    private void Forget(Offload offload)
    {
        lock (_lock)
            _byKey.Remove(new StateKey(offload.StateId.OtherHigh, offload.StateId.OtherLow));
    }

    private async Task RunAsync(Offload offload, Func<Offload, ValueTask<FsResult<CopyOutcome>>> copy, IDisposable? held)
    {
        FsResult<CopyOutcome> result;
        try
        {
            result = await copy(offload).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (offload.Cancelled)
        {
            result = new CopyOutcome(offload.Copied, WriteStability.Unstable);
        }
        catch (Exception e)
        {
            Log.OffloadFailed(server.Logger, e, offload.StateId.ToString(), offload.Client.ClientId);
            result = FsStatus.Io;
        }
        finally
        {
            held?.Dispose();
            lock (_lock)
            {
                _running.Remove(offload);
                if (_runningByClient.TryGetValue(offload.Client, out int mine))
                {
                    if (mine <= 1)
                        _runningByClient.Remove(offload.Client);
                    else
                        _runningByClient[offload.Client] = mine - 1;
                }
            }
        }
        offload.Finish(result);
        Log.OffloadDone(server.Logger, offload.StateId.ToString(), offload.Client.ClientId, result.Status, offload.Copied, offload.Cancelled);
        if (offload.Cancelled || !await offload.AnsweredAsynchronously.ConfigureAwait(false))
        {
            Forget(offload); // cancelled (forgotten already), or COPY answered the result itself
            offload.Dispose();
            return;
        }
        try
        {
            if (await CbOffloadCall.SendAsync(server, offload, _stopping.Token).ConfigureAwait(false))
                Forget(offload); // RFC 7862 §4.8: the client's answer to CB_OFFLOAD ends the stateid
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
        }
        finally
        {
            offload.Dispose();
        }
    }
}
