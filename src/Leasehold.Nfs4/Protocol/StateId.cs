using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Protocol;

/// <summary>
/// stateid4 (RFC 8881 §3.3.12): a sequence number and 12 opaque bytes. Ours are (client's boot-unique 8 bytes... see
/// <see cref="State.StateIdTable"/>); the special stateids of §8.2.3 are the all-zero ("anonymous"), all-ones ("READ
/// bypass") and the current stateid (seqid 1, other zero).
/// </summary>
internal readonly record struct StateId(uint SeqId, ulong OtherHigh, uint OtherLow)
{
    public static StateId Anonymous => default;

    public static StateId Bypass => new(uint.MaxValue, ulong.MaxValue, uint.MaxValue);

    public static StateId Current => new(1, 0, 0);

    public static StateId Invalid => new(uint.MaxValue, 0, 0);

    public bool IsAnonymous => this == Anonymous;

    public bool IsBypass => this == Bypass;

    public bool IsCurrent => this == Current;

    public bool IsSpecial => (OtherHigh == 0 && OtherLow == 0) || (OtherHigh == ulong.MaxValue && OtherLow == uint.MaxValue);

    /// <summary>The 12-byte "other" part, which names the state regardless of its sequence number.</summary>
    public (ulong, uint) Other => (OtherHigh, OtherLow);

    public static StateId Read(ref XdrReader r) => new(r.ReadUInt32(), r.ReadUInt64(), r.ReadUInt32());

    public void Write(XdrWriter w)
    {
        w.WriteUInt32(SeqId);
        w.WriteUInt64(OtherHigh);
        w.WriteUInt32(OtherLow);
    }

    public override string ToString() => $"{SeqId}:{OtherHigh:x16}{OtherLow:x8}";
}
