using Leasehold.Engine;
using Leasehold.Export;
using Leasehold.Nfs4.Attributes;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>change_info4: the directory's change attribute before and after.</summary>
internal readonly record struct ChangeInfo(bool Atomic, ulong Before, ulong After)
{
    public void Write(XdrWriter w)
    {
        w.WriteBool(Atomic);
        w.WriteUInt64(Before);
        w.WriteUInt64(After);
    }
}
