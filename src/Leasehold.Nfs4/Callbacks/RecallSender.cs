using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;

namespace Leasehold.Nfs4.Callbacks;

/// <summary>
/// Delivers CB_RECALL (RFC 8881 §20.2) for the delegations the engine breaks, and keeps at it, by knfsd's rules
/// (<c>nfsd4_cb_sequence_done</c>, <c>nfsd4_cb_recall_done</c>), until the client has the recall, the delegation is
/// returned or revoked, or the client is gone. Each recall is a CB_COMPOUND { CB_SEQUENCE, CB_RECALL } sent with
/// <see cref="BackChannel.SendAsync"/>, which has already applied §20.9's slot rules when it returns:
/// <list type="bullet">
/// <item>CB_SEQUENCE or CB_RECALL answered NFS4ERR_DELAY: sent again after <see cref="Nfs4Options.CallbackRetryDelay"/>,
/// as often as the client asks, while the recall is wanted;</item>
/// <item>CB_SEQUENCE answered NFS4ERR_SEQ_MISORDERED: the slot was reset to sequence id 1; sent again at once, once;</item>
/// <item>CB_RECALL answered NFS4ERR_BADHANDLE or NFS4ERR_BAD_STATEID: the recall probably overtook the OPEN reply
/// that granted the delegation; sent again after the retry delay, at most <see cref="MaxBadStateIdRetries"/> times;</item>
/// <item>no connection bound, no reply (timeout, connection closed), or an answer the back channel took for a fault
/// (RPC error, malformed, wrong echo, BADSLOT, BADSESSION): tried on another session of the client whose back channel
/// is usable; when there is none, the recall waits (<see cref="Resume"/>) until the client binds a back channel
/// again (BIND_CONN_TO_SESSION, CREATE_SESSION) or one comes back Up (a probe after BACKCHANNEL_CTL), and is sent
/// then;</item>
/// <item>any other answer: the recall is over; whatever the client does, the engine revokes a delegation not returned
/// by its deadline (one lease time).</item>
/// </list>
/// Every recall runs on its own (no recall waits for another's answer); a session's back-channel slot table bounds
/// how many are in flight on it. Nothing blocks a thread or holds a lock across an await; retry delays are timers
/// of the server's <see cref="TimeProvider"/>. Failures are logged as a warning at most once a minute per client.
/// </summary>
internal sealed class RecallSender(Nfs4Server server)
{
    /// <summary>
    /// CB_RECALLs answered BADHANDLE or BAD_STATEID sent again at most this many times. knfsd starts <c>dl_retries</c>
    /// at 1; we allow one more, as the delegations plan asks, since a client slow to process the OPEN reply is the
    /// common case and a retry costs one small call.
    /// </summary>
    public const int MaxBadStateIdRetries = 2;

    /// <summary>At most one warning per client in this much time (of the server's clock); the rest are counted.</summary>
    public static readonly TimeSpan WarningInterval = TimeSpan.FromMinutes(1);

    /// <summary>Recalls waiting for a usable back channel, by client. An entry is taken whole by whoever removes it.</summary>
    private readonly ConcurrentDictionary<NfsClient, Waiting> _waiting = new();

    private readonly ConditionalWeakTable<NfsClient, FailureLog> _failures = new();

    /// <summary>Starts recalling <paramref name="delegation"/> (already marked Recalling) on a pool work item; returns at once.</summary>
    public void Start(DelegationState delegation)
    {
        server.Metrics.DelegationRecalled(delegation);
        Run(new Recall(delegation));
    }

    /// <summary>
    /// A back channel of <paramref name="client"/> became usable: every recall of the client that found none is sent
    /// now. Cheap when none waits; called by <see cref="BackChannel"/> outside its lock.
    /// </summary>
    public void Resume(NfsClient client)
    {
        if (!_waiting.TryRemove(client, out var waiting))
            return;
        List<Recall> recalls;
        lock (waiting.Sync)
        {
            waiting.Taken = true;
            recalls = waiting.Recalls;
        }
        foreach (var recall in recalls)
            Run(recall);
    }

    /// <summary>The client is gone (expired, destroyed): its waiting recalls are dropped, its delegations released elsewhere.</summary>
    public void Forget(NfsClient client)
    {
        if (!_waiting.TryRemove(client, out var waiting))
            return;
        lock (waiting.Sync)
            waiting.Taken = true;
    }

    private void Run(Recall recall) =>
        ThreadPool.UnsafeQueueUserWorkItem(static s => _ = s.Sender.RunAsync(s.Recall), (Sender: this, Recall: recall), preferLocal: false);

    private async Task RunAsync(Recall recall)
    {
        var delegation = recall.Delegation;
        try
        {
            while (recall.IsWanted)
            {
                var session = delegation.Client.NewestUsableSession();
                if (session is null)
                {
                    Wait(recall);
                    return;
                }
                var sent = await session.Back.SendAsync(recall.Compound, CancellationToken.None).ConfigureAwait(false);
                Log.RecallSent(server.Logger, delegation.Id.ToString(), delegation.Client.ClientId, sent.Status, sent.Reply.OpStatus ?? NfsStat4.Ok);
                var next = Decide(recall, sent, out string? failure);
                if (next != Next.OtherChannel)
                    recall.FailuresOnUsableChannel = 0;
                switch (next)
                {
                    case Next.Done:
                        return;
                    case Next.Again:
                        continue;
                    case Next.AfterDelay:
                        if (failure is not null)
                            Warn(delegation, failure);
                        await Task.Delay(server.Options.CallbackRetryDelay, server.Time).ConfigureAwait(ConfigureAwaitOptions.ForceYielding);
                        continue;
                    case Next.OtherChannel:
                        Warn(delegation, failure!);
                        // Still usable: a connection bound meanwhile (try it at once), or nothing was learnt (the
                        // connection refused the call: wait before trying again, not to spin).
                        if (session.Back.IsUp && ++recall.FailuresOnUsableChannel > 1)
                            await Task.Delay(server.Options.CallbackRetryDelay, server.Time).ConfigureAwait(ConfigureAwaitOptions.ForceYielding);
                        continue;
                    case Next.Stop:
                        Warn(delegation, failure!);
                        return;
                }
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Log.RecallFailed(server.Logger, e, delegation.Id.ToString(), delegation.Client.ClientId);
        }
    }

    private enum Next
    {
        /// <summary>The client has the recall (or it is no longer wanted).</summary>
        Done,

        /// <summary>Send again at once (the slot was reset).</summary>
        Again,

        /// <summary>Send again after <see cref="Nfs4Options.CallbackRetryDelay"/>.</summary>
        AfterDelay,

        /// <summary>This back channel failed: another usable one of the client, or wait for one.</summary>
        OtherChannel,

        /// <summary>Give up; the engine's deadline decides.</summary>
        Stop,
    }

    /// <summary>What to do after one CB_COMPOUND, and for a failure, what to say about it.</summary>
    private static Next Decide(Recall recall, CbCallResult sent, out string? failure)
    {
        failure = null;
        switch (sent.Status)
        {
            case CbCallStatus.Delivered:
                var op = sent.Reply.OpStatus;
                switch (op)
                {
                    case NfsStat4.Ok:
                        return Next.Done;
                    case NfsStat4.Delay:
                        return Next.AfterDelay;
                    case NfsStat4.BadHandle or NfsStat4.BadStateId when recall.BadStateIdRetries < MaxBadStateIdRetries:
                        recall.BadStateIdRetries++;
                        failure = $"CB_RECALL answered {op}, sent again ({recall.BadStateIdRetries} of {MaxBadStateIdRetries})";
                        return Next.AfterDelay;
                    case null:
                        failure = $"CB_COMPOUND answered {sent.Reply.Status} without a CB_RECALL result";
                        return Next.Stop;
                    default:
                        failure = $"CB_RECALL answered {op}";
                        return Next.Stop;
                }
            case CbCallStatus.SequenceError:
                var seq = sent.Reply.Sequence!.Status;
                switch (seq)
                {
                    case NfsStat4.Delay:
                        return Next.AfterDelay;
                    case NfsStat4.SeqMisordered when !recall.MisorderedRetried:
                        recall.MisorderedRetried = true; // the back channel reset the slot: sequence id 1 next
                        return Next.Again;
                    case NfsStat4.RetryUncachedRep:
                        return Next.Done; // a retry of a call the client executed: it has the recall
                    case NfsStat4.BadSlot or NfsStat4.BadSession:
                        failure = $"CB_SEQUENCE answered {seq}";
                        return Next.OtherChannel; // the back channel is Fault now
                    default:
                        failure = $"CB_SEQUENCE answered {seq}";
                        return Next.Stop;
                }
            case CbCallStatus.NoChannel:
                failure = "no connection bound to the back channel";
                return Next.OtherChannel;
            case CbCallStatus.TransportFailed:
                failure = "no reply (timeout or connection lost)";
                return Next.OtherChannel;
            default:
                failure = "the reply was unusable (back channel fault)";
                return Next.OtherChannel;
        }
    }

    /// <summary>Parks a recall until a back channel of its client is usable (<see cref="Resume"/>).</summary>
    private void Wait(Recall recall)
    {
        var client = recall.Delegation.Client;
        while (true)
        {
            var waiting = _waiting.GetOrAdd(client, static _ => new Waiting());
            lock (waiting.Sync)
            {
                if (waiting.Taken)
                    continue; // resumed or forgotten just now: a new entry
                waiting.Recalls.Add(recall);
                break;
            }
        }
        Log.RecallWaiting(server.Logger, recall.Delegation.Id.ToString(), client.ClientId);
        // A channel bound between NewestUsableSession and the park found nothing to resume; an expired client's recalls go.
        if (client.Expired)
            Forget(client);
        else if (client.HasUsableBackChannel())
            Resume(client);
    }

    /// <summary>Logs a failed callback as a warning, at most once per <see cref="WarningInterval"/> per client.</summary>
    private void Warn(DelegationState delegation, string failure)
    {
        var log = _failures.GetValue(delegation.Client, static _ => new FailureLog());
        long now = server.Time.GetTimestamp();
        int suppressed;
        lock (log.Sync)
        {
            if (log.Warned && server.Time.GetElapsedTime(log.LastWarning, now) < WarningInterval)
            {
                log.Suppressed++;
                return;
            }
            log.Warned = true;
            log.LastWarning = now;
            suppressed = log.Suppressed;
            log.Suppressed = 0;
        }
        Log.CallbackFailing(server.Logger, delegation.Client.ClientId, delegation.Id.ToString(), delegation.FileId, failure, suppressed);
    }

    /// <summary>One delegation being recalled, and what its retries have used up.</summary>
    private sealed class Recall(DelegationState delegation)
    {
        public DelegationState Delegation { get; } = delegation;

        /// <summary>truncate is false: knfsd sends false too, outside a truncating open.</summary>
        public CbCompound Compound { get; } = new("recall", new CbRecall(delegation.Id, Truncate: false, delegation.File));

        public int BadStateIdRetries;

        public bool MisorderedRetried;

        /// <summary>Failures in a row after which the channel still looked usable.</summary>
        public int FailuresOnUsableChannel;

        /// <summary>Still to be sent: not returned or revoked, and the client is still there.</summary>
        public bool IsWanted => Delegation.CurrentStatus == DelegationStatus.Recalling && !Delegation.Client.Expired;
    }

    private sealed class Waiting
    {
        public readonly Lock Sync = new();
        public readonly List<Recall> Recalls = [];
        public bool Taken;
    }

    private sealed class FailureLog
    {
        public readonly Lock Sync = new();
        public bool Warned;
        public long LastWarning;
        public int Suppressed;
    }
}
