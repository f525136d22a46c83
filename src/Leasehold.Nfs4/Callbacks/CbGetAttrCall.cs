using Leasehold.Nfs4.Attributes;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Xdr;
using Microsoft.Extensions.Logging;

namespace Leasehold.Nfs4.Callbacks;

/// <summary>The holder's answer to CB_GETATTR (RFC 8881 §20.1): its change attribute and size (bytes) of the file.</summary>
internal readonly record struct HolderAttributes(ulong Change, ulong Size);

/// <summary>
/// CB_GETATTR (RFC 8881 §20.1, §10.4.3): asks the holder of a write delegation for the file's change attribute and
/// size, as knfsd does since 6.7 (<c>nfs4_cb_getattr</c>). At most one call per delegation is in flight: the GETATTRs
/// that arrive meanwhile share it. The call runs on its own, bounded by <see cref="Nfs4Options.CallbackTimeout"/>; a
/// GETATTR waits for it only <see cref="Nfs4Options.CbGetAttrTimeout"/>.
/// </summary>
internal static class CbGetAttrCall
{
    private static readonly uint[] s_mask = Attr.Bitmap(Attr.Change, Attr.Size);

    /// <summary>
    /// The holder's answer, or null when it gave none (no usable back channel, the call failed, the client answered
    /// an error or a malformed fattr4). Starts a call unless one for <paramref name="delegation"/> is in flight.
    /// </summary>
    public static Task<HolderAttributes?> AskAsync(Nfs4Server server, DelegationState delegation)
    {
        var mine = new TaskCompletionSource<HolderAttributes?>(TaskCreationOptions.RunContinuationsAsynchronously);
        while (true)
        {
            var current = Volatile.Read(ref delegation.PendingGetAttr);
            if (current is { IsCompleted: false })
                return current;
            if (Interlocked.CompareExchange(ref delegation.PendingGetAttr, mine.Task, current) == current)
                break;
        }
        _ = Task.Run(async () => mine.SetResult(await SendAsync(server, delegation).ConfigureAwait(false)));
        return mine.Task;
    }

    /// <summary>CB_COMPOUND { CB_SEQUENCE, CB_GETATTR } on a back channel of the holder that is up, trying its sessions in turn.</summary>
    private static async Task<HolderAttributes?> SendAsync(Nfs4Server server, DelegationState delegation)
    {
        try
        {
            List<Session> sessions;
            lock (delegation.Client.Sync)
                sessions = [.. delegation.Client.Sessions];
            var compound = new CbCompound("getattr", new CbGetAttr(delegation.File, s_mask));
            foreach (var session in sessions)
            {
                if (!session.Back.IsUp)
                    continue;
                var sent = await session.Back.SendAsync(compound, CancellationToken.None).ConfigureAwait(false);
                if (sent.Status != CbCallStatus.Delivered)
                    continue;
                if (sent.Reply.OpStatus == NfsStat4.Ok && TryRead(sent.Reply.OpResult.Span, out var answer))
                    return answer;
                Log.CbGetAttrRefused(server.Logger, delegation.Id.ToString(), delegation.Client.ClientId, sent.Reply.OpStatus ?? NfsStat4.Ok);
                return null; // the holder answered, and not with attributes: asking another session would not help
            }
        }
        catch (Exception e)
        {
            Log.CbGetAttrFailed(server.Logger, e, delegation.Id.ToString(), delegation.Client.ClientId);
        }
        return null;
    }

    /// <summary>
    /// CB_GETATTR4resok: a fattr4 that holds exactly change and size, the two asked for. The Linux client answers with
    /// both (<c>nfs4_callback_getattr</c>); an answer without one of them tells the server nothing it can use.
    /// </summary>
    internal static bool TryRead(ReadOnlySpan<byte> result, out HolderAttributes answer)
    {
        answer = default;
        try
        {
            var r = new XdrReader(result);
            var mask = Wire.ReadBitmap(ref r);
            var values = r.ReadOpaque(16);
            if (r.Remaining != 0 || !Trimmed(s_mask).SequenceEqual(Trimmed(mask)) || values.Length != 16)
                return false;
            var v = new XdrReader(values);
            answer = new HolderAttributes(v.ReadUInt64(), v.ReadUInt64()); // attributes in increasing number: change (3), size (4)
            return true;
        }
        catch (XdrException)
        {
            return false;
        }
    }

    private static ReadOnlySpan<uint> Trimmed(uint[] mask)
    {
        int length = mask.Length;
        while (length > 0 && mask[length - 1] == 0)
            length--;
        return mask.AsSpan(0, length);
    }
}
