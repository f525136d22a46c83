using System.Text;
using Leasehold.Export;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>LISTXATTRS4resok: the cookie to continue from, the names (without "user."), and whether the list ended.</summary>
internal sealed record ListXattrsResult(ulong Cookie, IReadOnlyList<string> Names, bool Eof);

/// <summary>
/// LISTXATTRS, RFC 8276 §8.4.4: the user extended attributes' names of the current filehandle, from lxa_cookie (0: the
/// start; a cookie is the index of the next name) within lxa_maxcount bytes of LISTXATTRS4resok, its XDR overhead
/// (cookie, array count, eof: 16 bytes) included, and within the session's reply. NFS4ERR_TOOSMALL when not even one
/// name fits, NFS4ERR_BADCOOKIE for a cookie past the end, NFS4ERR_ACCESS without read permission. Recalls no
/// delegation (see <see cref="Xattrs"/>).
/// </summary>
internal sealed class ListXattrsOp : INfsOp<(ulong Cookie, uint MaxCount), ListXattrsResult>
{
    public static readonly ListXattrsOp Instance = new();

    /// <summary>The bytes of LISTXATTRS4resok besides the names: lxr_cookie, the names' count and lxr_eof.</summary>
    internal const int ResultOverhead = 8 + 4 + 4;

    public static NfsOpcode Opcode => NfsOpcode.ListXattrs;

    public static (ulong Cookie, uint MaxCount) Decode(ref XdrReader r) => (r.ReadUInt64(), r.ReadUInt32());

    public ValueTask<OpResult<ListXattrsResult>> ExecuteAsync(CompoundContext ctx, (ulong Cookie, uint MaxCount) args, CancellationToken cancellationToken)
    {
        var status = Xattrs.Require(ctx, out var file, out var xattrs);
        if (status != NfsStat4.Ok)
            return ValueTask.FromResult<OpResult<ListXattrsResult>>(status);
        long room = Math.Min(args.MaxCount, Xattrs.ReplyRoom(ctx)) - ResultOverhead;
        if (room < 0)
            return ValueTask.FromResult<OpResult<ListXattrsResult>>(NfsStat4.TooSmall);
        var listed = xattrs.List(ctx.Caller, file, args.Cookie, (int)Math.Min(room, int.MaxValue));
        if (!listed.IsOk)
        {
            return ValueTask.FromResult<OpResult<ListXattrsResult>>(listed.Status switch
            {
                FsStatus.XattrTooBig => NfsStat4.TooSmall,
                FsStatus.Invalid => NfsStat4.BadCookie,
                var other => other.ToNfs(),
            });
        }
        var (names, next, end) = listed.Value;
        return ValueTask.FromResult(OpResult<ListXattrsResult>.Ok(new ListXattrsResult(next, names, end)));
    }

    public static void Encode(in OpResult<ListXattrsResult> result, XdrWriter w)
    {
        if (result.Value is not { } v)
            return;
        w.WriteUInt64(v.Cookie);
        w.WriteUInt32((uint)v.Names.Count);
        foreach (string name in v.Names)
            w.WriteOpaque(Encoding.UTF8.GetBytes(name));
        w.WriteBool(v.Eof);
    }
}
