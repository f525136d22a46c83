using System.Text;
using Leasehold.Export;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;

namespace Leasehold.Nfs4.Ops;

/// <summary>
/// Shared steps of the RFC 8276 operations: the current filehandle, the export's <see cref="IExtendedAttributes"/>
/// (none: NFS4ERR_NOTSUPP), the xattrkey4 off the wire, and the reply room a session leaves.
/// </summary>
/// <remarks>
/// Delegations: SETXATTR and REMOVEXATTR change the file, so the tree asks the change gate first
/// (<see cref="ChangeKind.ExtendedAttributes"/>, the engine's SetAttributes row): other clients' delegations are recalled
/// (NFS4ERR_DELAY until they are returned), the changer's own are kept. GETXATTR and LISTXATTRS recall nothing, not
/// even another client's write delegation: a delegation lets its holder cache data and the attributes that follow it,
/// never extended attributes, which a client changes only by SETXATTR and REMOVEXATTR on the server, so the server's
/// copy is always the current one (knfsd's GETXATTR and LISTXATTRS break no delegation either).
/// </remarks>
internal static class Xattrs
{
    /// <summary>
    /// The least a COMPOUND reply holds besides one xattr result: the header with an empty tag (12), SEQUENCE's result
    /// (48), PUTFH's (8) and the xattr operation's opcode and status (8). A value or list that does not fit the session's
    /// ca_maxresponsesize less this is refused by the operation itself; a reply that outgrows it anyway (a longer tag,
    /// more operations) is the dispatcher's NFS4ERR_REP_TOO_BIG.
    /// </summary>
    public const int ReplyOverhead = 12 + 48 + 8 + 8;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>NFS4ERR_NOFILEHANDLE without a current filehandle, NFS4ERR_NOTSUPP when the export keeps no xattrs.</summary>
    public static NfsStat4 Require(CompoundContext ctx, out FileHandle file, out IExtendedAttributes xattrs)
    {
        xattrs = null!;
        if (!ctx.TryGetCurrentFh(out file, out var status))
            return status;
        if (ctx.Tree.ExtendedAttributes is not { } found)
            return NfsStat4.NotSupp;
        xattrs = found;
        return NfsStat4.Ok;
    }

    /// <summary>
    /// An xattrkey4 (a component4, without the "user." prefix: the tree adds it): empty is NFS4ERR_INVAL, bytes that are
    /// not UTF-8 NFS4ERR_INVAL (RFC 8881 §14.4 for UTF-8 strings), a NUL NFS4ERR_BADCHAR (as for any component here);
    /// the length limit is the tree's (NFS4ERR_NAMETOOLONG).
    /// </summary>
    public static NfsStat4 Name(byte[] raw, out string name)
    {
        name = "";
        if (raw.Length == 0)
            return NfsStat4.Inval;
        if (Array.IndexOf(raw, (byte)0) >= 0)
            return NfsStat4.BadChar;
        try
        {
            name = StrictUtf8.GetString(raw);
        }
        catch (DecoderFallbackException)
        {
            return NfsStat4.Inval;
        }
        return NfsStat4.Ok;
    }

    /// <summary>Bytes a reply may carry for one xattr result in this session (int.MaxValue without a session).</summary>
    public static long ReplyRoom(CompoundContext ctx) =>
        ctx.Session is { } session ? (long)session.Fore.MaxResponseSize - ReplyOverhead : int.MaxValue;

    /// <summary>
    /// change_info4 of the file a change was made to: its change attribute before and after. Not atomic: nothing holds
    /// off another change between the two reads (RFC 8881 §3.3.6), so the client revalidates what it caches.
    /// </summary>
    public static ChangeInfo Change(CompoundContext ctx, FileHandle file, ulong before)
    {
        var after = ctx.Tree.GetAttributes(file);
        return new ChangeInfo(false, before, after.IsOk ? after.Value.Change : before);
    }
}
