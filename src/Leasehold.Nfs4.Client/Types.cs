using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Client;

/// <summary>stateid4 (RFC 8881 §3.3.12): a sequence number and 12 opaque bytes the server chose.</summary>
public readonly record struct StateId(uint SeqId, UInt128 Other)
{
    public const int OtherSize = 12;

    /// <summary>The anonymous stateid (all zeros, §8.2.3): I/O without an open.</summary>
    public static StateId Anonymous => default;

    /// <summary>The READ bypass stateid (all ones, §8.2.3).</summary>
    public static StateId ReadBypass => new(uint.MaxValue, (UInt128.One << 96) - 1);

    /// <summary>The current stateid (seqid 1, other zero, §16.2.3.1.2): "the stateid the previous op of this COMPOUND produced".</summary>
    public static StateId Current => new(1, UInt128.Zero);

    public static StateId Read(ref XdrReader r)
    {
        uint seq = r.ReadUInt32();
        var other = r.ReadFixedOpaque(OtherSize);
        UInt128 value = 0;
        foreach (byte b in other)
            value = (value << 8) | b;
        return new StateId(seq, value);
    }

    public void Write(XdrWriter w)
    {
        w.WriteUInt32(SeqId);
        Span<byte> other = stackalloc byte[OtherSize];
        UInt128 value = Other;
        for (int i = OtherSize - 1; i >= 0; i--)
        {
            other[i] = (byte)(value & 0xFF);
            value >>= 8;
        }
        w.WriteFixedOpaque(other);
    }

    public override string ToString() => $"{SeqId}:{Other:x24}";
}

/// <summary>nfs_fh4 (RFC 8881 §4): an opaque filehandle of at most 128 bytes. Compared by content.</summary>
public sealed class FileHandle : IEquatable<FileHandle>
{
    public const int MaxSize = 128; // NFS4_FHSIZE

    private readonly byte[] _bytes;

    public FileHandle(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length > MaxSize)
            throw new ArgumentException($"A filehandle has at most {MaxSize} bytes.", nameof(bytes));
        _bytes = bytes.ToArray();
    }

    public ReadOnlySpan<byte> Bytes => _bytes;

    public int Length => _bytes.Length;

    public static FileHandle Read(ref XdrReader r) => new(r.ReadOpaque(MaxSize));

    public void Write(XdrWriter w) => w.WriteOpaque(_bytes);

    public bool Equals(FileHandle? other) => other is not null && _bytes.AsSpan().SequenceEqual(other._bytes);

    public override bool Equals(object? obj) => Equals(obj as FileHandle);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.AddBytes(_bytes);
        return hash.ToHashCode();
    }

    public override string ToString() => Convert.ToHexString(_bytes);
}

/// <summary>sessionid4 (RFC 8881 §2.10.3): 16 opaque bytes.</summary>
public readonly record struct SessionId(UInt128 Value)
{
    public const int Size = 16;

    public static SessionId Read(ref XdrReader r)
    {
        UInt128 value = 0;
        foreach (byte b in r.ReadFixedOpaque(Size))
            value = (value << 8) | b;
        return new SessionId(value);
    }

    public void Write(XdrWriter w)
    {
        Span<byte> bytes = stackalloc byte[Size];
        UInt128 value = Value;
        for (int i = Size - 1; i >= 0; i--)
        {
            bytes[i] = (byte)(value & 0xFF);
            value >>= 8;
        }
        w.WriteFixedOpaque(bytes);
    }

    public override string ToString() => Value.ToString("x32");
}

/// <summary>nfstime4 (RFC 8881 §3.3.1): seconds since the epoch and nanoseconds.</summary>
public readonly record struct NfsTime(long Seconds, uint Nanoseconds)
{
    public static NfsTime Read(ref XdrReader r) => new(r.ReadInt64(), r.ReadUInt32());

    public void Write(XdrWriter w)
    {
        w.WriteInt64(Seconds);
        w.WriteUInt32(Nanoseconds);
    }

    public DateTimeOffset ToDateTimeOffset() =>
        DateTimeOffset.FromUnixTimeSeconds(Seconds).AddTicks(Nanoseconds / 100);

    public static NfsTime From(DateTimeOffset time)
    {
        long ticks = time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
        long seconds = Math.DivRem(ticks, TimeSpan.TicksPerSecond, out long rest);
        if (rest < 0)
        {
            seconds--;
            rest += TimeSpan.TicksPerSecond;
        }
        return new NfsTime(seconds, (uint)(rest * 100));
    }
}

/// <summary>fsid4 (RFC 8881 §3.3.9).</summary>
public readonly record struct Fsid(ulong Major, ulong Minor);

/// <summary>change_info4 (RFC 8881 §3.3.13): a directory's change attribute before and after an operation.</summary>
public readonly record struct ChangeInfo(bool Atomic, ulong Before, ulong After)
{
    public static ChangeInfo Read(ref XdrReader r) => new(r.ReadBool(), r.ReadUInt64(), r.ReadUInt64());
}

/// <summary>nfs_ftype4 (RFC 8881 §3.3.10 / §5.8.1.2).</summary>
public enum NfsFileType : uint
{
    Regular = 1,
    Directory = 2,
    BlockDevice = 3,
    CharDevice = 4,
    Symlink = 5,
    Socket = 6,
    Fifo = 7,
    AttrDir = 8,
    NamedAttr = 9,
}

/// <summary>OPEN4_SHARE_ACCESS_* (RFC 8881 §18.16.3) with the 4.1 delegation wants in bits 8–15.</summary>
[Flags]
public enum ShareAccess : uint
{
    Read = 1,
    Write = 2,
    Both = 3,
    WantReadDelegation = 0x0100,
    WantWriteDelegation = 0x0200,
    WantAnyDelegation = 0x0300,
    WantNoDelegation = 0x0400,
    WantCancel = 0x0500,
    WantSignalDelegationWhenResourceAvailable = 0x10000,
    WantPushDelegationWhenUncontended = 0x20000,

    /// <summary>OPEN4_SHARE_ACCESS_WANT_DELEG_TIMESTAMPS (RFC 9754 §5, NFSv4.2): a delegation with delegated timestamps.</summary>
    WantDelegTimestamps = 0x100000,

    /// <summary>OPEN4_SHARE_ACCESS_WANT_OPEN_XOR_DELEGATION (RFC 9754 §4, NFSv4.2): a delegation instead of an open stateid.</summary>
    WantOpenXorDelegation = 0x200000,
}

/// <summary>OPEN4_SHARE_DENY_* (RFC 8881 §18.16.3).</summary>
public enum ShareDeny : uint
{
    None = 0,
    Read = 1,
    Write = 2,
    Both = 3,
}

/// <summary>OPEN4_RESULT_* bits of OPEN4resok's rflags (RFC 8881 §18.16.3).</summary>
[Flags]
public enum OpenResultFlags : uint
{
    None = 0,
    Confirm = 0x02,
    LockTypePosix = 0x04,

    /// <summary>The server keeps the file usable through this open until CLOSE, even if its last name is removed.</summary>
    PreserveUnlinked = 0x08,

    /// <summary>OPEN4_RESULT_NO_OPEN_STATEID (RFC 9754 §4): the OPEN returned a delegation and no open stateid (all zeros).</summary>
    NoOpenStateId = 0x10,
    MayNotifyLock = 0x20,
}

/// <summary>createmode4 (RFC 8881 §18.16.1). EXCLUSIVE4 (2) is the 4.0 form; 4.1 clients use EXCLUSIVE4_1.</summary>
public enum CreateMode : uint
{
    Unchecked = 0,
    Guarded = 1,
    Exclusive = 2,
    Exclusive41 = 3,
}

/// <summary>stable_how4 (RFC 8881 §18.32.1).</summary>
public enum StableHow : uint
{
    Unstable = 0,
    DataSync = 1,
    FileSync = 2,
}

/// <summary>nfs_lock_type4 (RFC 8881 §12.2.8 / §18.10).</summary>
public enum LockType : uint
{
    Read = 1,
    Write = 2,
    ReadBlocking = 3,
    WriteBlocking = 4,
}

/// <summary>open_delegation_type4 (RFC 8881 §18.16.1, and RFC 9754's delegations with delegated timestamps).</summary>
public enum DelegationType : uint
{
    None = 0,
    Read = 1,
    Write = 2,
    NoneExt = 3,
    ReadAttrsDeleg = 4,
    WriteAttrsDeleg = 5,
}

/// <summary>ACCESS4_* bits (RFC 8881 §18.1).</summary>
[Flags]
public enum AccessBits : uint
{
    None = 0,
    Read = 0x01,
    Lookup = 0x02,
    Modify = 0x04,
    Extend = 0x08,
    Delete = 0x10,
    Execute = 0x20,
    All = 0x3F,
}

/// <summary>channel_dir_from_client4 (RFC 8881 §18.34).</summary>
public enum ChannelDirFromClient : uint
{
    Fore = 1,
    Back = 2,
    ForeOrBoth = 3,
    BackOrBoth = 7,
}

/// <summary>channel_dir_from_server4 (RFC 8881 §18.34).</summary>
public enum ChannelDirFromServer : uint
{
    Fore = 1,
    Back = 2,
    Both = 3,
}

/// <summary>secinfo_style4 (RFC 8881 §18.45).</summary>
public enum SecInfoStyle : uint
{
    CurrentFh = 0,
    Parent = 1,
}

/// <summary>EXCHGID4_FLAG_* (RFC 8881 §18.35).</summary>
[Flags]
public enum ExchangeIdFlags : uint
{
    None = 0,
    SupportsMovedRefer = 0x1,
    SupportsMovedMigr = 0x2,
    BindPrincipalStateId = 0x100,
    UseNonPnfs = 0x10000,
    UsePnfsMds = 0x20000,
    UsePnfsDs = 0x40000,
    UpdateConfirmedRecordA = 0x40000000,
    ConfirmedR = 0x80000000,
}

/// <summary>CREATE_SESSION4_FLAG_* (RFC 8881 §18.36).</summary>
[Flags]
public enum CreateSessionFlags : uint
{
    None = 0,
    Persist = 0x1,
    ConnBackChannel = 0x2,
    ConnRdma = 0x4,
}

/// <summary>channel_attrs4 (RFC 8881 §18.36).</summary>
public sealed record ChannelAttrs(uint HeaderPadSize, uint MaxRequestSize, uint MaxResponseSize,
    uint MaxResponseSizeCached, uint MaxOperations, uint MaxRequests)
{
    public static ChannelAttrs Read(ref XdrReader r)
    {
        var attrs = new ChannelAttrs(r.ReadUInt32(), r.ReadUInt32(), r.ReadUInt32(), r.ReadUInt32(), r.ReadUInt32(), r.ReadUInt32());
        int ird = r.ReadArrayCount(1);
        for (int i = 0; i < ird; i++)
            r.ReadUInt32(); // ca_rdma_ird: RDMA only
        return attrs;
    }

    public void Write(XdrWriter w)
    {
        w.WriteUInt32(HeaderPadSize);
        w.WriteUInt32(MaxRequestSize);
        w.WriteUInt32(MaxResponseSize);
        w.WriteUInt32(MaxResponseSizeCached);
        w.WriteUInt32(MaxOperations);
        w.WriteUInt32(MaxRequests);
        w.WriteUInt32(0); // ca_rdma_ird<1>: empty, TCP
    }
}

/// <summary>nfsace4 (RFC 8881 §6.2.1).</summary>
public sealed record NfsAce(uint Type, uint Flags, uint AccessMask, string Who)
{
    public static NfsAce Read(ref XdrReader r) => new(r.ReadUInt32(), r.ReadUInt32(), r.ReadUInt32(), r.ReadString(XdrLimits.MaxString));
}

/// <summary>Limits the decoder applies to lengths the server sends.</summary>
public static class XdrLimits
{
    /// <summary>NFS4_OPAQUE_LIMIT (RFC 8881 §2.2): owners, server scope, major ids.</summary>
    public const int OpaqueLimit = 1024;

    /// <summary>Names, owners and link texts: generous, since the protocol sets no bound, yet not unbounded.</summary>
    public const int MaxString = 64 * 1024;

    /// <summary>A READ or WRITE body: the largest the client ever asks for.</summary>
    public const int MaxData = 16 * 1024 * 1024;

    /// <summary>Array counts (resarray, ACLs, directory entries, TEST_STATEID).</summary>
    public const int MaxArray = 64 * 1024;
}
