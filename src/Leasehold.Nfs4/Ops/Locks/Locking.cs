using Leasehold.Engine;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>nfs_lock_type4 and the shared range arithmetic of LOCK, LOCKT and LOCKU (RFC 8881 §18.10-§18.12).</summary>
internal static class Locking
{
    public const uint ReadLt = 1, WriteLt = 2, ReadwLt = 3, WritewLt = 4;

    public static bool IsValidType(uint type) => type is >= ReadLt and <= WritewLt;

    public static RangeLockType ToEngine(uint type) => type is WriteLt or WritewLt ? RangeLockType.Write : RangeLockType.Read;

    /// <summary>Offset and length to an inclusive range; a length of all ones means "to the end" (§18.10.3). INVAL otherwise.</summary>
    public static NfsStat4 Range(ulong offset, ulong length, out ulong start, out ulong end)
    {
        start = offset;
        end = 0;
        if (length == 0)
            return NfsStat4.Inval;
        if (length == ulong.MaxValue)
        {
            end = ulong.MaxValue;
            return NfsStat4.Ok;
        }
        if (length - 1 > ulong.MaxValue - offset)
            return NfsStat4.Inval;
        end = offset + length - 1;
        return NfsStat4.Ok;
    }

    /// <summary>At most this many courtesy clients are expired for one LOCK or LOCKT, each standing in its way.</summary>
    private const int MaxCourtesyExpiries = 16;

    /// <summary>
    /// Asks <paramref name="attempt"/> (a TryLock or a Test) again each time the lock in the way belonged to a courtesy
    /// client, which is expired first (RFC 8881 §8.4.3; knfsd's <c>nfsd4_lm_lock_expirable</c>). Returns the lock still
    /// in the way, or null.
    /// </summary>
    public static RangeLock? ExpiringCourtesyHolders(CompoundContext ctx, RangeLock? conflict, Func<RangeLock?> attempt)
    {
        for (int i = 0; i < MaxCourtesyExpiries && conflict is { } held; i++)
        {
            if (!ctx.Server.ExpireCourtesyClient(held.Owner.Group, "another client's lock conflicts with its byte-range lock"))
                break;
            conflict = attempt();
        }
        return conflict;
    }

    /// <summary>LOCK4denied for the lock in the way.</summary>
    public static LockDenied Denied(CompoundContext ctx, RangeLock conflict)
    {
        var holder = ctx.Server.States.LockStateOf(conflict.Owner);
        ulong length = conflict.End == ulong.MaxValue ? ulong.MaxValue : conflict.End - conflict.Start + 1;
        return new LockDenied(conflict.Start, length, conflict.Type == RangeLockType.Write ? WriteLt : ReadLt,
            holder?.Client.ClientId ?? conflict.Owner.Group, holder?.LockOwner ?? []);
    }
}
