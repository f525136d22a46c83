using Leasehold.Export;
using Leasehold.Nfs4.Attributes;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>
/// ACCESS, RFC 8881 §18.1: which of the asked rights the caller has, from the mode bits. In a 4.2 COMPOUND the RFC 8276
/// §8.5 bits may be asked too (a Linux client asks them before every getfattr and setfattr once xattr_support is true):
/// XAREAD and XALIST as the export's GETXATTR and LISTXATTRS decide (read permission), XAWRITE as SETXATTR and
/// REMOVEXATTR do (write permission or ownership; on a sticky directory ownership; never on a read-only export), on
/// regular files and directories. They are reported unsupported where the export keeps no xattrs.
/// </summary>
internal sealed class AccessOp : INfsOp<uint, (uint Supported, uint Access)>
{
    public static readonly AccessOp Instance = new();

    private const uint AllBits = 0x3F;

    // RFC 8276 §8.5: ACCESS4_XAREAD, ACCESS4_XAWRITE, ACCESS4_XALIST (minor version 2).
    private const uint XaRead = 0x40, XaWrite = 0x80, XaList = 0x100, XaBits = XaRead | XaWrite | XaList;

    public static NfsOpcode Opcode => NfsOpcode.Access;

    public static uint Decode(ref XdrReader r) => r.ReadUInt32();

    public ValueTask<OpResult<(uint Supported, uint Access)>> ExecuteAsync(CompoundContext ctx, uint asked, CancellationToken cancellationToken)
    {
        if (!ctx.TryGetCurrentFh(out var fh, out var status))
            return ValueTask.FromResult<OpResult<(uint, uint)>>(status);
        if ((asked & ~(ctx.MinorVersion >= 2 ? AllBits | XaBits : AllBits)) != 0)
            return ValueTask.FromResult<OpResult<(uint, uint)>>(NfsStat4.Inval);
        uint xattrAsked = asked & XaBits;
        var query = (AccessMask)(asked & AllBits);
        if (xattrAsked != 0)
            query |= AccessMask.Read | AccessMask.Modify;
        var granted = ctx.Tree.CheckAccess(ctx.Caller, fh, query);
        if (!granted.IsOk)
            return ValueTask.FromResult<OpResult<(uint, uint)>>(granted.Status.ToNfs());
        uint access = (uint)granted.Value & asked & AllBits;
        uint supported = asked;
        if (xattrAsked != 0)
        {
            if (ctx.Tree.ExtendedAttributes is null)
                supported &= ~XaBits;
            else
                access |= XattrAccess(ctx, fh, granted.Value) & xattrAsked;
        }
        return ValueTask.FromResult(OpResult<(uint, uint)>.Ok((supported, access)));
    }

    /// <summary>The xattr bits the caller has on the file, by the rules <see cref="IExtendedAttributes"/> applies.</summary>
    private static uint XattrAccess(CompoundContext ctx, FileHandle fh, AccessMask granted)
    {
        var attrs = ctx.Tree.GetAttributes(fh);
        if (!attrs.IsOk || attrs.Value.Type is not (FileType.Regular or FileType.Directory))
            return 0;
        uint bits = (granted & AccessMask.Read) != 0 ? XaRead | XaList : 0;
        bool owner = ctx.Caller.IsRoot || ctx.Caller.Uid == attrs.Value.Uid;
        bool sticky = attrs.Value.Type == FileType.Directory && (attrs.Value.Mode & 0x200) != 0;
        if (!ctx.Tree.IsReadOnly && (sticky ? owner : owner || (granted & AccessMask.Modify) != 0))
            bits |= XaWrite;
        return bits;
    }

    public static void Encode(in OpResult<(uint Supported, uint Access)> result, XdrWriter w)
    {
        if (!result.IsOk)
            return;
        w.WriteUInt32(result.Value.Supported);
        w.WriteUInt32(result.Value.Access);
    }
}
