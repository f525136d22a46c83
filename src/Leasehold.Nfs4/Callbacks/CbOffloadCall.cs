using Leasehold.Export;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Nfs4.State.Offload;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Callbacks;

/// <summary>
/// CB_OFFLOAD4args (RFC 7862 §16.1.1): the asynchronous copy <paramref name="StateId"/> onto <paramref name="FileHandle"/>
/// is over. offload_info4 is, for NFS4_OK, a write_response4 (no callback id, the bytes copied, how stable they are, the
/// write verifier); for an error, the bytes copied before it (coa_bytes_copied).
/// </summary>
internal sealed record CbOffload(FileHandle FileHandle, StateId StateId, NfsStat4 Status, long Count, WriteStability Committed, ulong Verifier)
    : CbOperation(CbOpcode.CbOffload)
{
    public override void WriteArguments(XdrWriter w)
    {
        w.WriteOpaque(FileHandle.Span);
        StateId.Write(w);
        w.WriteUInt32((uint)Status);
        if (Status == NfsStat4.Ok)
        {
            w.WriteUInt32(0); // wr_callback_id<1>: empty
            w.WriteUInt64((ulong)Count);
            w.WriteUInt32((uint)Committed);
            w.WriteUInt64(Verifier);
        }
        else
        {
            w.WriteUInt64((ulong)Count);
        }
    }
}

/// <summary>
/// Sends CB_OFFLOAD for a finished asynchronous COPY on a back channel of its client that is up, newest session first,
/// by the rules <see cref="RecallSender"/> follows for CB_RECALL: NFS4ERR_DELAY (CB_SEQUENCE or CB_OFFLOAD, which RFC
/// 7862 lets a client answer) is retried after <see cref="Nfs4Options.CallbackRetryDelay"/>, a misordered slot at once,
/// a failed channel on the next session; with no channel up it waits a retry delay and looks again. It gives up after
/// <see cref="MaxRounds"/> rounds or when the client is gone; the copy's stateid then stays for OFFLOAD_STATUS until
/// the client goes.
/// </summary>
internal static class CbOffloadCall
{
    /// <summary>Rounds over the client's sessions (each after a retry delay): with the default 2 s, about a minute.</summary>
    public const int MaxRounds = 30;

    /// <summary>True when the client answered the CB_OFFLOAD (any answer but NFS4ERR_DELAY): the copy's stateid ends.</summary>
    public static async Task<bool> SendAsync(Nfs4Server server, Offload offload, CancellationToken cancellationToken)
    {
        var result = offload.Result!.Value;
        var op = result.IsOk
            ? new CbOffload(offload.Destination, offload.StateId, NfsStat4.Ok, result.Value.Count, result.Value.Committed, server.BootVerifier)
            : new CbOffload(offload.Destination, offload.StateId, Compound.StatusMapping.ToNfs(result.Status), offload.Copied, WriteStability.Unstable, 0);
        var compound = new CbCompound("offload", op);
        var client = offload.Client;
        string failure = "no back channel up";
        for (int round = 0; round < MaxRounds && !client.Expired; round++)
        {
            if (round > 0)
                await Task.Delay(server.Options.CallbackRetryDelay, server.Time, cancellationToken).ConfigureAwait(false);
            List<Session> sessions;
            lock (client.Sync)
                sessions = [.. client.Sessions];
            for (int i = sessions.Count - 1; i >= 0; i--)
            {
                var back = sessions[i].Back;
                if (!back.IsUp || back.MinorVersion < 2)
                    continue; // CB_OFFLOAD exists only in NFSv4.2 (RFC 7862 §16.1): a 4.1 session's client would not know it
                var sent = await back.SendAsync(compound, cancellationToken).ConfigureAwait(false);
                if (sent.Status == CbCallStatus.SequenceError && sent.Reply.Sequence?.Status == NfsStat4.SeqMisordered)
                    sent = await back.SendAsync(compound, cancellationToken).ConfigureAwait(false); // the slot was reset: once more at once
                Log.OffloadCallbackSent(server.Logger, offload.StateId.ToString(), client.ClientId, sent.Status, sent.Reply.OpStatus ?? NfsStat4.Ok);
                switch (sent.Status)
                {
                    case CbCallStatus.Delivered when sent.Reply.OpStatus == NfsStat4.Delay:
                        failure = "CB_OFFLOAD answered NFS4ERR_DELAY";
                        goto nextRound;
                    case CbCallStatus.Delivered:
                        return true;
                    case CbCallStatus.SequenceError when sent.Reply.Sequence?.Status == NfsStat4.RetryUncachedRep:
                        return true; // a retry of a call the client executed
                    case CbCallStatus.SequenceError when sent.Reply.Sequence?.Status == NfsStat4.Delay:
                        failure = "CB_SEQUENCE answered NFS4ERR_DELAY";
                        goto nextRound;
                    default:
                        failure = $"{sent.Status} {sent.Reply.Sequence?.Status}";
                        continue; // this channel failed: the next session's
                }
            }
        nextRound:;
        }
        Log.OffloadCallbackFailed(server.Logger, offload.StateId.ToString(), client.ClientId, failure);
        return false;
    }
}
