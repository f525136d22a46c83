namespace Leasehold.Nfs4.Client;

// CompoundBuilder, the copy operations of NFSv4.2 (RFC 7862 §15.2, §15.8, §15.9, §15.13). COPY and CLONE read
// SAVED_FH (the source) and write CURRENT_FH (the destination): PutFh(source).SaveFh().PutFh(destination).Copy(...).
public sealed partial class CompoundBuilder
{
    /// <summary>
    /// COPY4args: <paramref name="count"/> bytes (0 = to the source's end) from the source at <paramref name="sourceOffset"/>
    /// to the destination at <paramref name="destinationOffset"/>; <paramref name="synchronous"/> asks for the copy to be
    /// done before the reply; <paramref name="sourceServers"/> name another server to copy from (inter-server copy), as
    /// NL4_NAME netloc4s.
    /// </summary>
    public CompoundBuilder Copy(StateId sourceStateId, StateId destinationStateId, ulong sourceOffset, ulong destinationOffset, ulong count,
        bool synchronous, bool consecutive = true, params string[] sourceServers)
    {
        var w = Op(NfsOpcode.Copy);
        sourceStateId.Write(w);
        destinationStateId.Write(w);
        w.WriteUInt64(sourceOffset);
        w.WriteUInt64(destinationOffset);
        w.WriteUInt64(count);
        w.WriteBool(consecutive);
        w.WriteBool(synchronous);
        w.WriteUInt32((uint)sourceServers.Length);
        foreach (string server in sourceServers)
        {
            w.WriteUInt32(1); // NL4_NAME
            w.WriteString(server);
        }
        return this;
    }

    /// <summary>OFFLOAD_STATUS4args: how far the asynchronous copy <paramref name="copyStateId"/> onto CURRENT_FH has got.</summary>
    public CompoundBuilder OffloadStatus(StateId copyStateId)
    {
        var w = Op(NfsOpcode.OffloadStatus);
        copyStateId.Write(w);
        return this;
    }

    /// <summary>OFFLOAD_CANCEL4args: stop the asynchronous copy <paramref name="copyStateId"/> onto CURRENT_FH.</summary>
    public CompoundBuilder OffloadCancel(StateId copyStateId)
    {
        var w = Op(NfsOpcode.OffloadCancel);
        copyStateId.Write(w);
        return this;
    }

    /// <summary>CLONE4args: the destination range shares the source range's blocks (<paramref name="count"/> 0 = to the source's end).</summary>
    public CompoundBuilder Clone(StateId sourceStateId, StateId destinationStateId, ulong sourceOffset, ulong destinationOffset, ulong count)
    {
        var w = Op(NfsOpcode.Clone);
        sourceStateId.Write(w);
        destinationStateId.Write(w);
        w.WriteUInt64(sourceOffset);
        w.WriteUInt64(destinationOffset);
        w.WriteUInt64(count);
        return this;
    }
}
