using Leasehold.Export;
using Leasehold.Nfs4.Attributes;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Xdr;
using Microsoft.Extensions.Logging;

namespace Leasehold.Nfs4.Callbacks;

/// <summary>
/// The holder's answer to CB_GETATTR (RFC 8881 §20.1): its change attribute and size (bytes) of the file, and, from the
/// holder of a delegation with delegated timestamps (RFC 9754 §5), its time_deleg_access and time_deleg_modify when it
/// sent them (null otherwise).
/// </summary>
internal readonly record struct HolderAttributes(ulong Change, ulong Size, FsTime? AccessTime = null, FsTime? ModifyTime = null);

/// <summary>
/// CB_GETATTR (RFC 8881 §20.1, §10.4.3): asks the holder of a write delegation for the file's change attribute and
/// size, as knfsd does since 6.7 (<c>nfs4_cb_getattr</c>), and the holder of a *_ATTRS_DELEG delegation also for
/// time_deleg_access and time_deleg_modify (RFC 9754 §5). At most one call per delegation is in flight: the GETATTRs
/// that arrive meanwhile share it. The call runs on its own, bounded by <see cref="Nfs4Options.CallbackTimeout"/>; a
/// GETATTR waits for it only <see cref="Nfs4Options.CbGetAttrTimeout"/>.
/// </summary>
internal static class CbGetAttrCall
{
    private static readonly uint[] s_mask = Attr.Bitmap(Attr.Change, Attr.Size);
    private static readonly uint[] s_maskWithTimes = Attr.Bitmap(Attr.Change, Attr.Size, Attr.TimeDelegAccess, Attr.TimeDelegModify);

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
            var compound = new CbCompound("getattr", new CbGetAttr(delegation.File, delegation.TimestampsDelegated ? s_maskWithTimes : s_mask));
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
    /// CB_GETATTR4resok: a fattr4 that holds change and size, and may hold time_deleg_access and time_deleg_modify
    /// (RFC 9754 §5: the holder of a *_ATTRS_DELEG delegation sends them; a client that does not is taken at its change
    /// and size), and nothing else. The Linux client answers with what was asked (<c>nfs4_callback_getattr</c>); an
    /// answer without change or size, or with an attribute not asked for, tells the server nothing it can use.
    /// </summary>
    internal static bool TryRead(ReadOnlySpan<byte> result, out HolderAttributes answer)
    {
        answer = default;
        try
        {
            var r = new XdrReader(result);
            var mask = Wire.ReadBitmap(ref r);
            var values = r.ReadOpaque(48);
            if (r.Remaining != 0 || !Attr.IsSubset(mask, s_maskWithTimes) || !Attr.IsSet(mask, Attr.Change) || !Attr.IsSet(mask, Attr.Size))
                return false;
            var v = new XdrReader(values);
            ulong change = v.ReadUInt64(); // attributes in increasing number: change (3), size (4), time_deleg_access (84), _modify (85)
            ulong size = v.ReadUInt64();
            FsTime? access = Attr.IsSet(mask, Attr.TimeDelegAccess) ? DelegationAttributes.ReadTime(ref v) : null;
            FsTime? modify = Attr.IsSet(mask, Attr.TimeDelegModify) ? DelegationAttributes.ReadTime(ref v) : null;
            if (v.Remaining != 0)
                return false;
            answer = new HolderAttributes(change, size, access, modify);
            return true;
        }
        catch (XdrException)
        {
            return false;
        }
    }
}
