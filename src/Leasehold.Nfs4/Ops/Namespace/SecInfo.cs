using Leasehold.Export;
using Leasehold.Nfs4.Attributes;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>SECINFO_NO_NAME, RFC 8881 §18.45, and SECINFO, §18.29: AUTH_SYS and AUTH_NONE. Both consume the current filehandle.</summary>
internal static class SecInfo
{
    public static void WriteFlavors(XdrWriter w)
    {
        w.WriteUInt32(2);
        w.WriteUInt32(1); // AUTH_SYS
        w.WriteUInt32(0); // AUTH_NONE
    }
}
