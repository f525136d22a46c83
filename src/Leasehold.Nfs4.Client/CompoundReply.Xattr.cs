using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Client;

// CompoundReply, the xattr operations of NFSv4.2.
public sealed partial class CompoundReply
{
#pragma warning disable IDE0060 // a skeleton until the results are decoded
    private static OpResult DecodeXattr(NfsOpcode op, NfsStat4 status, ref XdrReader r) => new(op, status);
#pragma warning restore IDE0060
}
