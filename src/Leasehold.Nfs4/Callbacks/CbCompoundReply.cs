using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Callbacks;

/// <summary>CB_SEQUENCE4res (RFC 8881 §20.9): the status and, when OK, what the client echoes.</summary>
internal sealed record CbSequenceReply(NfsStat4 Status, byte[]? SessionId, uint SequenceId, uint SlotId, uint HighestSlotId, uint TargetHighestSlotId);

/// <summary>
/// A decoded CB_COMPOUND4res for a CB_SEQUENCE + one operation: the compound's status, the CB_SEQUENCE result
/// (null when the client answered no operation at all), the second operation's status (null when it was not reached)
/// and the bytes of that operation's result after its status (CB_GETATTR4resok; empty otherwise).
/// </summary>
internal readonly record struct CbCompoundReply(NfsStat4 Status, CbSequenceReply? Sequence, NfsStat4? OpStatus, ReadOnlyMemory<byte> OpResult)
{
    private const int MaxTag = 1024;

    /// <summary>
    /// Decodes <paramref name="results"/>. False when it is not a well-formed answer to a CB_SEQUENCE followed by
    /// <paramref name="expected"/>: malformed XDR, an opcode other than the one sent, or more results than operations.
    /// The caller treats that as a fault of the back channel.
    /// </summary>
    public static bool TryRead(ReadOnlyMemory<byte> results, CbOpcode expected, out CbCompoundReply reply)
    {
        reply = default;
        try
        {
            var r = new XdrReader(results.Span);
            var status = (NfsStat4)r.ReadUInt32();
            r.ReadOpaque(MaxTag);
            int count = r.ReadArrayCount(2, minElementSize: 8);
            if (count == 0)
            {
                reply = new CbCompoundReply(status, null, null, default);
                return status != NfsStat4.Ok; // OK with no results answers nothing that was asked
            }
            if ((CbOpcode)r.ReadUInt32() != CbOpcode.CbSequence)
                return false;
            var seqStatus = (NfsStat4)r.ReadUInt32();
            CbSequenceReply sequence = seqStatus == NfsStat4.Ok
                ? new CbSequenceReply(seqStatus, r.ReadFixedOpaque(Wire.SessionIdSize).ToArray(), r.ReadUInt32(), r.ReadUInt32(), r.ReadUInt32(), r.ReadUInt32())
                : new CbSequenceReply(seqStatus, null, 0, 0, 0, 0);
            if (count == 1)
            {
                reply = new CbCompoundReply(status, sequence, null, default);
                return r.Remaining == 0 && (seqStatus != NfsStat4.Ok || status != NfsStat4.Ok);
            }
            if (seqStatus != NfsStat4.Ok || (CbOpcode)r.ReadUInt32() != expected)
                return false; // nothing may follow a failed CB_SEQUENCE, and only the operation sent
            var opStatus = (NfsStat4)r.ReadUInt32();
            int restAt = r.Position;
            if (opStatus != NfsStat4.Ok && r.Remaining != 0)
                return false;
            reply = new CbCompoundReply(status, sequence, opStatus, results[restAt..]);
            return true;
        }
        catch (XdrException)
        {
            return false;
        }
    }
}
