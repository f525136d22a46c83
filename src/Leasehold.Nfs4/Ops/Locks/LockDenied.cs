using Leasehold.Engine;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

internal sealed record LockDenied(ulong Offset, ulong Length, uint Type, ulong OwnerClientId, byte[] Owner)
{
    public void Write(XdrWriter w)
    {
        w.WriteUInt64(Offset);
        w.WriteUInt64(Length);
        w.WriteUInt32(Type);
        w.WriteUInt64(OwnerClientId);
        w.WriteOpaque(Owner);
    }
}
