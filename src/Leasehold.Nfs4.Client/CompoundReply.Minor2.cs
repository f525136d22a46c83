using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Client;

// CompoundReply, the results of the NFSv4.2 operations (RFC 7862 §15, RFC 8276 §8), one decoder per area.
public sealed partial class CompoundReply
{
    private static OpResult DecodeMinor2(NfsOpcode op, NfsStat4 status, ref XdrReader r) => op switch
    {
        NfsOpcode.Allocate or NfsOpcode.Deallocate or NfsOpcode.Seek or NfsOpcode.ReadPlus or NfsOpcode.IoAdvise => DecodeSpace(op, status, ref r),
        NfsOpcode.Copy or NfsOpcode.OffloadStatus or NfsOpcode.OffloadCancel or NfsOpcode.Clone => DecodeCopy(op, status, ref r),
        NfsOpcode.GetXattr or NfsOpcode.SetXattr or NfsOpcode.ListXattrs or NfsOpcode.RemoveXattr => DecodeXattr(op, status, ref r),
        _ => new OpResult(op, status),
    };
}
