using Leasehold.Export;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Callbacks;

/// <summary>One operation of a CB_COMPOUND, sent after its CB_SEQUENCE (RFC 8881 §20).</summary>
internal abstract record CbOperation(CbOpcode Opcode)
{
    /// <summary>Writes the operation's arguments (not its opcode).</summary>
    public abstract void WriteArguments(XdrWriter w);
}

/// <summary>CB_RECALL4args (RFC 8881 §20.2): give back the delegation <paramref name="StateId"/> on <paramref name="FileHandle"/>.</summary>
internal sealed record CbRecall(StateId StateId, bool Truncate, FileHandle FileHandle) : CbOperation(CbOpcode.CbRecall)
{
    public override void WriteArguments(XdrWriter w)
    {
        StateId.Write(w);
        w.WriteBool(Truncate);
        w.WriteOpaque(FileHandle.Span);
    }
}

/// <summary>CB_GETATTR4args (RFC 8881 §20.1): the holder of a write delegation reports <paramref name="Mask"/> of the file.</summary>
internal sealed record CbGetAttr(FileHandle FileHandle, uint[] Mask) : CbOperation(CbOpcode.CbGetAttr)
{
    public override void WriteArguments(XdrWriter w)
    {
        w.WriteOpaque(FileHandle.Span);
        Wire.WriteBitmap(w, Mask);
    }
}

/// <summary>
/// A CB_COMPOUND request (RFC 8881 §20.9 and §16.2's shape): CB_SEQUENCE, then <see cref="Operation"/>. The
/// CB_SEQUENCE is filled in when the call goes out, from the slot the back channel gives it.
/// </summary>
internal sealed record CbCompound(string Tag, CbOperation Operation)
{
    /// <summary>NFS4_CALLBACK version 1 (RFC 8881 §20: "program NFS4_CALLBACK, version NFS_CB = 1").</summary>
    public const uint Version = 1;

    public const uint ProcNull = 0;
    public const uint ProcCompound = 1;

    /// <summary>Writes CB_COMPOUND4args (of the session's <paramref name="minorVersion"/>) with CB_SEQUENCE4args for <paramref name="slot"/>, then the operation.</summary>
    public void Write(XdrWriter w, ReadOnlySpan<byte> sessionId, CallbackSlot slot, uint highestSlotId, uint minorVersion = 1)
    {
        WriteHeader(w, Tag, 2, minorVersion);
        WriteSequence(w, sessionId, slot, highestSlotId);
        w.WriteUInt32((uint)Operation.Opcode);
        Operation.WriteArguments(w);
    }

    /// <summary>tag, minorversion (the session's: 1 or 2), callback_ident 0 (NFSv4.0 only), and the operation count.</summary>
    public static void WriteHeader(XdrWriter w, string tag, int operations, uint minorVersion = 1)
    {
        w.WriteString(tag);
        w.WriteUInt32(minorVersion);
        w.WriteUInt32(0);
        w.WriteUInt32((uint)operations);
    }

    /// <summary>CB_SEQUENCE4args: never csa_cachethis (the back channel agreed no reply cache), no referring calls.</summary>
    public static void WriteSequence(XdrWriter w, ReadOnlySpan<byte> sessionId, CallbackSlot slot, uint highestSlotId)
    {
        w.WriteUInt32((uint)CbOpcode.CbSequence);
        w.WriteFixedOpaque(sessionId);
        w.WriteUInt32(slot.NextSequenceId);
        w.WriteUInt32((uint)slot.Id);
        w.WriteUInt32(highestSlotId);
        w.WriteBool(false);
        w.WriteUInt32(0); // csa_referring_call_lists<>
    }
}
