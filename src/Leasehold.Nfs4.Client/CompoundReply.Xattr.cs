using System.Text;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Client;

// CompoundReply, the xattr operations of NFSv4.2 (RFC 8276 §8.4): GETXATTR's value, LISTXATTRS's names, and the
// change_info4 SETXATTR and REMOVEXATTR answer (a ChangeInfoResult, as REMOVE's).
public sealed partial class CompoundReply
{
    private static OpResult DecodeXattr(NfsOpcode op, NfsStat4 status, ref XdrReader r)
    {
        if (status != NfsStat4.Ok)
        {
            return op switch
            {
                NfsOpcode.GetXattr => new GetXattrResult(status, []),
                NfsOpcode.ListXattrs => new ListXattrsResult(status, 0, [], false),
                _ => new OpResult(op, status),
            };
        }
        switch (op)
        {
            case NfsOpcode.GetXattr:
                return new GetXattrResult(status, r.ReadOpaque(XdrLimits.MaxData).ToArray());
            case NfsOpcode.SetXattr or NfsOpcode.RemoveXattr:
                return new ChangeInfoResult(op, status, ChangeInfo.Read(ref r));
            case NfsOpcode.ListXattrs:
                ulong cookie = r.ReadUInt64();
                int count = r.ReadArrayCount(XdrLimits.MaxArray, 4);
                var names = new List<string>(count);
                for (int i = 0; i < count; i++)
                    names.Add(Encoding.UTF8.GetString(r.ReadOpaque(XdrLimits.MaxString)));
                return new ListXattrsResult(status, cookie, names, r.ReadBool());
            default:
                return new OpResult(op, status);
        }
    }
}
