using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Client;

// CompoundBuilder, the space operations of NFSv4.2 (RFC 7862 §15.1, §15.4, §15.5, §15.10, §15.11). Only a minor
// version 2 COMPOUND carries them (Nfs4SessionOptions.MinorVersion = 2); in a 4.1 one the server answers OP_ILLEGAL.
public sealed partial class CompoundBuilder
{
    /// <summary>ALLOCATE: reserve the blocks of [offset, offset+length), growing the file if the range ends past it.</summary>
    public CompoundBuilder Allocate(StateId stateId, ulong offset, ulong length)
    {
        var w = Op(NfsOpcode.Allocate);
        stateId.Write(w);
        w.WriteUInt64(offset);
        w.WriteUInt64(length);
        return this;
    }

    /// <summary>DEALLOCATE: punch a hole over [offset, offset+length); the size stays.</summary>
    public CompoundBuilder Deallocate(StateId stateId, ulong offset, ulong length)
    {
        var w = Op(NfsOpcode.Deallocate);
        stateId.Write(w);
        w.WriteUInt64(offset);
        w.WriteUInt64(length);
        return this;
    }

    /// <summary>SEEK: the next data or hole at or after <paramref name="offset"/>.</summary>
    public CompoundBuilder Seek(StateId stateId, ulong offset, DataContent what)
    {
        var w = Op(NfsOpcode.Seek);
        stateId.Write(w);
        w.WriteUInt64(offset);
        w.WriteUInt32((uint)what);
        return this;
    }

    /// <summary>READ_PLUS: as READ, with holes answered as holes.</summary>
    public CompoundBuilder ReadPlus(StateId stateId, ulong offset, uint count)
    {
        var w = Op(NfsOpcode.ReadPlus);
        stateId.Write(w);
        w.WriteUInt64(offset);
        w.WriteUInt32(count);
        return this;
    }

    /// <summary>IO_ADVISE: hints about [offset, offset+count) (count 0: to the end), each an <see cref="IoAdvice"/> bit.</summary>
    public CompoundBuilder IoAdvise(StateId stateId, ulong offset, ulong count, params IoAdvice[] hints)
    {
        var w = Op(NfsOpcode.IoAdvise);
        stateId.Write(w);
        w.WriteUInt64(offset);
        w.WriteUInt64(count);
        IoAdviceBitmap(hints).Write(w);
        return this;
    }

    private static AttrBitmap IoAdviceBitmap(IoAdvice[] hints)
    {
        var words = new uint[1];
        foreach (var hint in hints)
            words[0] |= 1u << (int)hint;
        return new AttrBitmap(words);
    }
}
