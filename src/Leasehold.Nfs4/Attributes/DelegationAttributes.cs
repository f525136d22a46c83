using Leasehold.Export;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Attributes;

/// <summary>
/// The attributes and OPEN flags of RFC 9754 ("Extensions for Opening and Delegating Files in NFSv4.2"), minor version 2
/// only: open_arguments (86, read-only: what OPEN supports), time_deleg_access (84) and time_deleg_modify (85), the
/// access and modify times the holder of a delegation with delegated timestamps reports in CB_GETATTR and sets with
/// SETATTR. Neither time is readable with GETATTR (INVAL, as knfsd answers): another client reads time_access and
/// time_modify, which the server answers from the holder's report.
/// </summary>
internal static class DelegationAttributes
{
    /// <summary>OPEN4_SHARE_ACCESS_WANT_DELEG_TIMESTAMPS (RFC 9754 §5): the client asks for a *_ATTRS_DELEG delegation.</summary>
    public const uint WantDelegTimestamps = 0x100000;

    /// <summary>OPEN4_SHARE_ACCESS_WANT_OPEN_XOR_DELEGATION (RFC 9754 §4): a delegation, if granted, instead of an open stateid.</summary>
    public const uint WantOpenXorDelegation = 0x200000;

    /// <summary>The two RFC 9754 share_access flags.</summary>
    public const uint WantFlags = WantDelegTimestamps | WantOpenXorDelegation;

    /// <summary>OPEN4_RESULT_NO_OPEN_STATEID (RFC 9754 §4): the OPEN returned a delegation and no open stateid.</summary>
    public const uint ResultNoOpenStateId = 0x10;

    /// <summary>open_delegation_type4 gains OPEN_DELEGATE_READ_ATTRS_DELEG (4) and _WRITE_ATTRS_DELEG (5): READ and WRITE plus this.</summary>
    public const uint AttrsDelegOffset = 3;

    /// <summary>The attributes minor version 2 adds for RFC 9754.</summary>
    public static readonly uint[] Supported = Attr.Bitmap(Attr.TimeDelegAccess, Attr.TimeDelegModify, Attr.OpenArguments);

    // open_arguments4's bitmaps hold one bit per value of the enums RFC 9754 §3 defines. Only what OpenOp implements:
    // every share access (READ 1, WRITE 2, BOTH 3) and deny (NONE 0 ... BOTH 3); of the wants, ANY_DELEG (3), NO_DELEG (4),
    // CANCEL (5), DELEG_TIMESTAMPS (20) and OPEN_XOR_DELEGATION (21), as knfsd advertises them (READ_DELEG and WRITE_DELEG
    // have no value in open_args_share_access_want4; SIGNAL_DELEG_WHEN_RESRC_AVAIL (17) and PUSH_DELEG_WHEN_UNCONTENDED
    // (18) are accepted but never acted on, so not advertised); every claim (NULL 0 ... DELEG_PREV_FH 6); every createmode
    // (UNCHECKED4 0, GUARDED 1, EXCLUSIVE4 2, EXCLUSIVE4_1 3).
    private const uint ShareAccessBits = (1u << 1) | (1u << 2) | (1u << 3);
    private const uint ShareDenyBits = 0xF;
    private const uint ShareAccessWantBits = (1u << 3) | (1u << 4) | (1u << 5) | (1u << 20) | (1u << 21);
    private const uint OpenClaimBits = 0x7F;
    private const uint CreateModeBits = 0xF;

    /// <summary>fattr4_open_arguments: open_arguments4, five bitmap4s of one word each.</summary>
    public static void WriteOpenArguments(XdrWriter w)
    {
        foreach (uint bits in (ReadOnlySpan<uint>)[ShareAccessBits, ShareDenyBits, ShareAccessWantBits, OpenClaimBits, CreateModeBits])
        {
            w.WriteUInt32(1);
            w.WriteUInt32(bits);
        }
    }

    /// <summary>An nfstime4; BADXDR (an <see cref="XdrException"/>) when nseconds is not below 10^9.</summary>
    public static FsTime ReadTime(ref XdrReader r)
    {
        long seconds = r.ReadInt64();
        uint nanos = r.ReadUInt32();
        if (nanos >= 1_000_000_000)
            XdrException.Throw("nseconds out of range");
        return new FsTime(seconds, nanos);
    }

    /// <summary>
    /// Vets a delegated time the holder reports (CB_GETATTR) or sets (SETATTR), RFC 9754 §5 as knfsd reads it
    /// (<c>nfsd4_vet_deleg_time</c>): a time not after <paramref name="original"/> (the file's time when the delegation
    /// was granted) is ignored (false); one after <paramref name="now"/> is clamped to now (the RFC lets the server clamp
    /// or answer DELAY; clamping cannot loop); otherwise it stands. True when <paramref name="requested"/> is to be used.
    /// </summary>
    public static bool Vet(ref FsTime requested, FsTime original, FsTime now)
    {
        if (Compare(requested, original) <= 0)
            return false;
        if (Compare(requested, now) > 0)
            requested = now;
        return true;
    }

    /// <summary>Orders two times: seconds, then nanoseconds.</summary>
    public static int Compare(FsTime a, FsTime b) => a.Seconds != b.Seconds ? a.Seconds.CompareTo(b.Seconds) : a.Nanoseconds.CompareTo(b.Nanoseconds);

    /// <summary>The later of two times.</summary>
    public static FsTime Max(FsTime a, FsTime b) => Compare(a, b) >= 0 ? a : b;
}
