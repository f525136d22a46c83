using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Client;

// CompoundReply, the space operations of NFSv4.2 (RFC 7862 §15.1, §15.4, §15.5, §15.10, §15.11).
public sealed partial class CompoundReply
{
    private static OpResult DecodeSpace(NfsOpcode op, NfsStat4 status, ref XdrReader r)
    {
        if (status != NfsStat4.Ok)
        {
            return op switch
            {
                NfsOpcode.Seek => new SeekResult(status, false, 0),
                NfsOpcode.ReadPlus => new ReadPlusResult(status, false, []),
                NfsOpcode.IoAdvise => new IoAdviseResult(status, new HashSet<IoAdvice>()),
                _ => new OpResult(op, status),
            };
        }
        switch (op)
        {
            case NfsOpcode.Seek:
                return new SeekResult(status, r.ReadBool(), r.ReadUInt64());
            case NfsOpcode.ReadPlus:
                return DecodeReadPlus(ref r);
            case NfsOpcode.IoAdvise:
            {
                var applied = new HashSet<IoAdvice>();
                foreach (var bit in AttrBitmap.Read(ref r))
                    applied.Add((IoAdvice)(int)bit);
                return new IoAdviseResult(status, applied);
            }
            default: // ALLOCATE, DEALLOCATE: a status only
                return new OpResult(op, status);
        }
    }

    private static ReadPlusResult DecodeReadPlus(ref XdrReader r)
    {
        bool eof = r.ReadBool();
        int count = r.ReadArrayCount(XdrLimits.MaxArray, 4);
        var segments = new List<ReadPlusSegment>(count);
        for (int i = 0; i < count; i++)
        {
            var content = (DataContent)r.ReadUInt32();
            ulong offset = r.ReadUInt64();
            switch (content)
            {
                case DataContent.Data:
                    var data = r.ReadOpaque(XdrLimits.MaxData).ToArray();
                    segments.Add(new ReadPlusSegment(content, offset, (ulong)data.Length, data));
                    break;
                case DataContent.Hole:
                    segments.Add(new ReadPlusSegment(content, offset, r.ReadUInt64(), ReadOnlyMemory<byte>.Empty));
                    break;
                default:
                    XdrException.Throw($"read_plus_content {(uint)content} is neither data nor a hole.");
                    break;
            }
        }
        return new ReadPlusResult(NfsStat4.Ok, eof, segments);
    }
}
