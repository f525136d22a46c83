using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Client;

// CompoundReply, the copy operations of NFSv4.2 (RFC 7862 §15.2, §15.8, §15.9, §15.13).
public sealed partial class CompoundReply
{
    private static OpResult DecodeCopy(NfsOpcode op, NfsStat4 status, ref XdrReader r)
    {
        switch (op)
        {
            case NfsOpcode.Copy when status == NfsStat4.Ok:
            {
                int ids = r.ReadArrayCount(1, 16);
                StateId? callbackId = ids == 1 ? StateId.Read(ref r) : null;
                ulong count = r.ReadUInt64();
                var committed = (StableHow)r.ReadUInt32();
                ulong verifier = r.ReadUInt64();
                return new CopyResult(status, callbackId, count, committed, verifier, r.ReadBool(), r.ReadBool());
            }
            case NfsOpcode.Copy when status == NfsStat4.OffloadNoReqs:
                return new CopyResult(status, null, 0, StableHow.Unstable, 0, r.ReadBool(), r.ReadBool());
            case NfsOpcode.Copy:
                return new CopyResult(status, null, 0, StableHow.Unstable, 0, false, false);
            case NfsOpcode.OffloadStatus when status == NfsStat4.Ok:
            {
                ulong count = r.ReadUInt64();
                int complete = r.ReadArrayCount(1);
                return new OffloadStatusResult(status, count, complete == 1 ? (NfsStat4)r.ReadUInt32() : null);
            }
            case NfsOpcode.OffloadStatus:
                return new OffloadStatusResult(status, 0, null);
            default:
                return new OpResult(op, status); // OFFLOAD_CANCEL, CLONE: a status only
        }
    }
}
