namespace Leasehold.Nfs4.Client;

/// <summary>data_content4 (RFC 7862 §15.11): what SEEK looks for, and what a READ_PLUS segment holds.</summary>
public enum DataContent : uint
{
    Data = 0,
    Hole = 1,
}

/// <summary>IO_ADVISE_type4 (RFC 7862 §15.5.1): bit numbers of IO_ADVISE's hint bitmap.</summary>
public enum IoAdvice
{
    Normal = 0,
    Sequential = 1,
    SequentialBackwards = 2,
    Random = 3,
    WillNeed = 4,
    WillNeedOpportunistic = 5,
    DontNeed = 6,
    NoReuse = 7,
    Read = 8,
    Write = 9,
    InitProximity = 10,
}

/// <summary>seek_res4: <see cref="Offset"/> is where the content found starts; <see cref="Eof"/> as RFC 7862 §15.11.3 says.</summary>
public sealed record SeekResult(NfsStat4 Status, bool Eof, ulong Offset) : OpResult(NfsOpcode.Seek, Status);

/// <summary>
/// One read_plus_content: data (its bytes in <see cref="Data"/>; <see cref="Length"/> is their count) or a hole (no
/// bytes, <see cref="Length"/> of zeros), at <see cref="Offset"/> in the file.
/// </summary>
public sealed record ReadPlusSegment(DataContent Content, ulong Offset, ulong Length, ReadOnlyMemory<byte> Data);

/// <summary>read_plus_res4: rpr_eof and the contents in order.</summary>
public sealed record ReadPlusResult(NfsStat4 Status, bool Eof, IReadOnlyList<ReadPlusSegment> Segments) : OpResult(NfsOpcode.ReadPlus, Status)
{
    /// <summary>The bytes the contents stand for, from the first segment's offset: data copied, holes as zeros.</summary>
    public byte[] Flatten()
    {
        if (Segments.Count == 0)
            return [];
        ulong start = Segments[0].Offset;
        var last = Segments[^1];
        var bytes = new byte[checked((int)(last.Offset + last.Length - start))];
        foreach (var s in Segments)
        {
            if (s.Content == DataContent.Data)
                s.Data.Span.CopyTo(bytes.AsSpan((int)(s.Offset - start)));
        }
        return bytes;
    }
}

/// <summary>IO_ADVISE4resok: the hints the server says it applied.</summary>
public sealed record IoAdviseResult(NfsStat4 Status, IReadOnlySet<IoAdvice> Applied) : OpResult(NfsOpcode.IoAdvise, Status);
