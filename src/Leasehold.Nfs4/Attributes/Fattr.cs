using System.Globalization;
using System.Text;
using Leasehold.Export;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Attributes;

/// <summary>Attribute numbers (RFC 8881 §5.8) that this server knows.</summary>
internal static class Attr
{
    public const int SupportedAttrs = 0, Type = 1, FhExpireType = 2, Change = 3, Size = 4, LinkSupport = 5, SymlinkSupport = 6,
        NamedAttr = 7, Fsid = 8, UniqueHandles = 9, LeaseTime = 10, RdattrError = 11, AclSupport = 13, CanSetTime = 15,
        CaseInsensitive = 16, CasePreserving = 17, ChownRestricted = 18, FileHandle = 19, FileId = 20, FilesAvail = 21,
        FilesFree = 22, FilesTotal = 23, Homogeneous = 26, MaxFileSize = 27, MaxLink = 28, MaxName = 29, MaxRead = 30,
        MaxWrite = 31, Mode = 33, NoTrunc = 34, NumLinks = 35, Owner = 36, OwnerGroup = 37, RawDev = 41, SpaceAvail = 42,
        SpaceFree = 43, SpaceTotal = 44, SpaceUsed = 45, TimeAccess = 47, TimeAccessSet = 48, TimeCreate = 50, TimeDelta = 51,
        TimeMetadata = 52, TimeModify = 53, TimeModifySet = 54, MountedOnFileId = 55, SuppAttrExclCreat = 75, FsCharsetCap = 76;

    /// <summary>The attributes of minor version 2 (RFC 7862 §12.2, RFC 8275, RFC 8276 §8.6).</summary>
    public const int CloneBlksize = 77, SpaceFreed = 78, ChangeAttrType = 79, ModeUmask = 81, XattrSupport = 82;

    /// <summary>RFC 9754 (NFSv4.2 only): the holder's delegated times, and what OPEN supports. See <see cref="DelegationAttributes"/>.</summary>
    public const int TimeDelegAccess = 84, TimeDelegModify = 85, OpenArguments = 86;

    public const int MaxAttr = 87;

    /// <summary>Every attribute GETATTR can return, plus the two write-only time setters.</summary>
    public static readonly uint[] Supported = Bitmap(
        SupportedAttrs, Type, FhExpireType, Change, Size, LinkSupport, SymlinkSupport, NamedAttr, Fsid, UniqueHandles, LeaseTime,
        RdattrError, AclSupport, CanSetTime, CaseInsensitive, CasePreserving, ChownRestricted, FileHandle, FileId, FilesAvail,
        FilesFree, FilesTotal, Homogeneous, MaxFileSize, MaxLink, MaxName, MaxRead, MaxWrite, Mode, NoTrunc, NumLinks, Owner,
        OwnerGroup, RawDev, SpaceAvail, SpaceFree, SpaceTotal, SpaceUsed, TimeAccess, TimeAccessSet, TimeCreate, TimeDelta,
        TimeMetadata, TimeModify, TimeModifySet, MountedOnFileId, SuppAttrExclCreat, FsCharsetCap);

    /// <summary>
    /// What SETATTR can change: mode_umask only in a create's attributes (see <see cref="FattrDecoder"/>);
    /// time_deleg_access and time_deleg_modify only in minor version 2, by their holder.
    /// </summary>
    public static readonly uint[] Settable = Bitmap(Size, Mode, Owner, OwnerGroup, TimeAccessSet, TimeModifySet, ModeUmask, TimeDelegAccess, TimeDelegModify);

    /// <summary>
    /// The supported attributes of a minor version 2 COMPOUND: the 4.1 ones, change_attr_type, mode_umask,
    /// xattr_support (its value says whether the export has extended attributes) and RFC 9754's (time_deleg_access,
    /// time_deleg_modify, open_arguments); clone_blksize only where the filesystem clones (<paramref name="cloneBlockSize"/>
    /// above 0), and space_freed only where it does not: with shared blocks, what a remove frees is not the file's
    /// space_used (knfsd and Ganesha support neither). A 4.1 COMPOUND sees <see cref="Supported"/>, as knfsd's
    /// nfsd_suppattrs[minorversion].
    /// </summary>
    public static uint[] SupportedMinor2(uint cloneBlockSize)
    {
        var words = Or(Supported, DelegationAttributes.Supported);
        foreach (int attr in (int[])[cloneBlockSize > 0 ? CloneBlksize : SpaceFreed, ChangeAttrType, ModeUmask, XattrSupport])
            words[attr / 32] |= 1u << (attr % 32);
        return words;
    }

    /// <summary>change_attr_type4 (RFC 7862 §12.2.3): our change attribute is the ctime (<see cref="FileAttributes.Change"/>).</summary>
    public const uint ChangeTypeIsTimeMetadata = 3;

    /// <summary>
    /// What an EXCLUSIVE4_1 create may set along with its verifier (suppattr_exclcreat, §18.16.3, §5.8.1.14): everything
    /// settable but the two times, because the verifier is kept in time_access and time_modify (as knfsd does) until
    /// the client's SETATTR after the create. A create that sends either time is refused (INVAL), never overwritten.
    /// </summary>
    public static readonly uint[] ExclusiveCreateSettable = Bitmap(Size, Mode, Owner, OwnerGroup);

    /// <summary>Where an exclusive create keeps its verifier, reported in OPEN's attrset (§18.16.4) so the client sets them right after.</summary>
    public static readonly int[] VerifierHolders = [TimeAccess, TimeModify];

    /// <summary>fs_charset_cap4 bits (§5.8.2.1): names may hold bytes that are not UTF-8; UTF-8 only is not enforced.</summary>
    public const uint FsCharsetContainsNonUtf8 = 0x1, FsCharsetAllowsOnlyUtf8 = 0x2;

    /// <summary>Whether every attribute in <paramref name="bitmap"/> is also in <paramref name="allowed"/>.</summary>
    public static bool IsSubset(ReadOnlySpan<uint> bitmap, ReadOnlySpan<uint> allowed)
    {
        for (int i = 0; i < bitmap.Length; i++)
        {
            uint permitted = i < allowed.Length ? allowed[i] : 0;
            if ((bitmap[i] & ~permitted) != 0)
                return false;
        }
        return true;
    }

    public static uint[] Bitmap(params int[] attrs)
    {
        var words = new uint[3];
        foreach (int a in attrs)
            words[a / 32] |= 1u << (a % 32);
        return words;
    }

    /// <summary>The union of two three-word bitmaps.</summary>
    public static uint[] Or(uint[] a, uint[] b) => [a[0] | b[0], a[1] | b[1], a[2] | b[2]];

    public static bool IsSet(ReadOnlySpan<uint> bitmap, int attr) => attr / 32 < bitmap.Length && (bitmap[attr / 32] & (1u << (attr % 32))) != 0;
}

/// <summary>
/// Server-wide values some attributes report; <see cref="MaxFileSize"/> is the export's (its filesystem's s_maxbytes).
/// One per minor version: <see cref="Supported"/> is what a COMPOUND of <see cref="MinorVersion"/> supports.
/// </summary>
internal sealed record FattrContext(uint LeaseSeconds, ulong MaxRead, ulong MaxWrite, (ulong Major, ulong Minor) Fsid, ulong MaxFileSize)
{
    public uint MinorVersion { get; private init; } = 1;

    public uint[] Supported { get; private init; } = Attr.Supported;

    /// <summary>clone_blksize: the export's IFileSpace.CloneBlockSize (0: no clones, and no such attribute).</summary>
    public uint CloneBlockSize { get; private init; }

    /// <summary>xattr_support: whether the export has extended attributes (IExportedTree.ExtendedAttributes).</summary>
    public bool XattrSupport { get; private init; }

    /// <summary>The same values for minor version 2 COMPOUNDs, with the export's 4.2 capabilities.</summary>
    public FattrContext ForMinorVersion2(uint cloneBlockSize, bool xattrSupport) => this with
    {
        MinorVersion = 2, Supported = Attr.SupportedMinor2(cloneBlockSize), CloneBlockSize = cloneBlockSize, XattrSupport = xattrSupport,
    };
}

/// <summary>Encodes fattr4 (a bitmap and the values of the attributes in it, in attribute order).</summary>
internal static class FattrEncoder
{
    /// <summary>
    /// Writes the attributes asked for that this server supports. The file system's statistics are asked of
    /// <paramref name="statsFrom"/> (for <paramref name="handle"/>) only if a space or files attribute is asked for; with
    /// no tree they are left out.
    /// </summary>
    public static void Write(XdrWriter w, ReadOnlySpan<uint> requested, FileAttributes a, FileHandle handle, FattrContext server,
        IExportedTree? statsFrom, NfsStat4 rdattrError = NfsStat4.Ok)
    {
        Span<uint> returned = stackalloc uint[3];
        int bitmapAt = w.Position;
        // Reserve the bitmap (length + 3 words) and the attr_vals length; patched at the end.
        w.WriteUInt32(3);
        w.WriteUInt32(0);
        w.WriteUInt32(0);
        w.WriteUInt32(0);
        int lengthAt = w.ReserveUInt32();
        int valuesStart = w.Position;
        FsStats? fs = null;
        bool fsFetched = false;

        for (int attr = 0; attr < Attr.MaxAttr && attr / 32 < requested.Length; attr++)
        {
            if (!Attr.IsSet(requested, attr) || !Attr.IsSet(server.Supported, attr)
                || attr is Attr.TimeAccessSet or Attr.TimeModifySet or Attr.ModeUmask or Attr.TimeDelegAccess or Attr.TimeDelegModify)
                continue;
            if (attr is Attr.FilesAvail or Attr.FilesFree or Attr.FilesTotal or Attr.SpaceAvail or Attr.SpaceFree or Attr.SpaceTotal && !fsFetched)
            {
                fs = statsFrom?.GetFileSystemStats(handle) is { IsOk: true } stats ? stats.Value : null;
                fsFetched = true;
            }
            if (!WriteOne(w, attr, a, handle, server, fs, rdattrError))
                continue;
            returned[attr / 32] |= 1u << (attr % 32);
        }

        w.PatchUInt32(lengthAt, (uint)(w.Position - valuesStart));
        // Rewrite the bitmap with what was returned (always 3 words: simple, and valid XDR).
        w.PatchUInt32(bitmapAt + 4, returned[0]);
        w.PatchUInt32(bitmapAt + 8, returned[1]);
        w.PatchUInt32(bitmapAt + 12, returned[2]);
    }

    private static bool WriteOne(XdrWriter w, int attr, FileAttributes a, FileHandle handle, FattrContext server, FsStats? fs, NfsStat4 rdattrError)
    {
        switch (attr)
        {
            case Attr.SupportedAttrs: Wire.WriteBitmap(w, server.Supported); break;
            case Attr.Type: w.WriteUInt32((uint)a.Type); break;
            case Attr.FhExpireType: w.WriteUInt32(0); break; // FH4_PERSISTENT: handles survive restarts
            case Attr.Change: w.WriteUInt64(a.Change); break;
            case Attr.Size: w.WriteUInt64(a.Size); break;
            case Attr.LinkSupport: w.WriteBool(true); break;
            case Attr.SymlinkSupport: w.WriteBool(true); break;
            case Attr.NamedAttr: w.WriteBool(false); break;
            case Attr.Fsid: w.WriteUInt64(server.Fsid.Major); w.WriteUInt64(server.Fsid.Minor); break;
            case Attr.UniqueHandles: w.WriteBool(true); break;
            case Attr.LeaseTime: w.WriteUInt32(server.LeaseSeconds); break;
            case Attr.RdattrError: w.WriteUInt32((uint)rdattrError); break;
            case Attr.AclSupport: w.WriteUInt32(0); break; // no ACLs: mode bits only
            case Attr.CanSetTime: w.WriteBool(true); break;
            case Attr.CaseInsensitive: w.WriteBool(false); break;
            case Attr.CasePreserving: w.WriteBool(true); break;
            case Attr.ChownRestricted: w.WriteBool(true); break;
            case Attr.FileHandle: w.WriteOpaque(handle.Span); break;
            case Attr.FileId: w.WriteUInt64(a.FileId); break;
            case Attr.FilesAvail: if (fs is null) return false; w.WriteUInt64(fs.AvailableFiles); break;
            case Attr.FilesFree: if (fs is null) return false; w.WriteUInt64(fs.FreeFiles); break;
            case Attr.FilesTotal: if (fs is null) return false; w.WriteUInt64(fs.TotalFiles); break;
            case Attr.Homogeneous: w.WriteBool(true); break;
            case Attr.MaxFileSize: w.WriteUInt64(server.MaxFileSize); break; // WRITE beyond it is FBIG
            case Attr.MaxLink: w.WriteUInt32(65000); break; // ext4's EXT4_LINK_MAX
            case Attr.MaxName: w.WriteUInt32(Wire.MaxName); break; // longer names are NAMETOOLONG
            case Attr.MaxRead: w.WriteUInt64(server.MaxRead); break;
            case Attr.MaxWrite: w.WriteUInt64(server.MaxWrite); break;
            case Attr.Mode: w.WriteUInt32(a.Mode & 0xFFF); break;
            case Attr.NoTrunc: w.WriteBool(true); break;
            case Attr.NumLinks: w.WriteUInt32(a.NumLinks); break;
            case Attr.Owner: w.WriteString(a.Uid.ToString(CultureInfo.InvariantCulture)); break;
            case Attr.OwnerGroup: w.WriteString(a.Gid.ToString(CultureInfo.InvariantCulture)); break;
            case Attr.RawDev: w.WriteUInt32(a.RdevMajor); w.WriteUInt32(a.RdevMinor); break;
            case Attr.SpaceAvail: if (fs is null) return false; w.WriteUInt64(fs.AvailableBytes); break;
            case Attr.SpaceFree: if (fs is null) return false; w.WriteUInt64(fs.FreeBytes); break;
            case Attr.SpaceTotal: if (fs is null) return false; w.WriteUInt64(fs.TotalBytes); break;
            case Attr.SpaceUsed: w.WriteUInt64(a.SpaceUsed); break;
            case Attr.TimeAccess: WriteTime(w, a.AccessTime); break;
            case Attr.TimeCreate: if (a.BirthTime is not { } birth) return false; WriteTime(w, birth); break;
            case Attr.TimeDelta: w.WriteInt64(0); w.WriteUInt32(1); break; // nanosecond timestamps
            case Attr.TimeMetadata: WriteTime(w, a.ChangeTime); break;
            case Attr.TimeModify: WriteTime(w, a.ModifyTime); break;
            case Attr.MountedOnFileId: w.WriteUInt64(a.FileId); break;
            case Attr.SuppAttrExclCreat: Wire.WriteBitmap(w, Attr.ExclusiveCreateSettable); break;
            case Attr.FsCharsetCap: w.WriteUInt32(Attr.FsCharsetContainsNonUtf8); break; // names are bytes, passed through
            case Attr.CloneBlksize: w.WriteUInt32(server.CloneBlockSize); break;
            // What a remove would free (no blocks are shared where this is supported): the file's blocks, unless another name keeps them.
            case Attr.SpaceFreed: w.WriteUInt64(a.Type == FileType.Directory || a.NumLinks <= 1 ? a.SpaceUsed : 0); break;
            case Attr.ChangeAttrType: w.WriteUInt32(Attr.ChangeTypeIsTimeMetadata); break;
            case Attr.XattrSupport: w.WriteBool(server.XattrSupport); break;
            case Attr.OpenArguments: DelegationAttributes.WriteOpenArguments(w); break;
            default: return false;
        }
        return true;
    }

    private static void WriteTime(XdrWriter w, FsTime t)
    {
        w.WriteInt64(t.Seconds);
        w.WriteUInt32(t.Nanoseconds);
    }

    /// <summary>Encodes just the attribute values for <paramref name="requested"/>, for VERIFY/NVERIFY comparisons.</summary>
    public static byte[] Values(ReadOnlySpan<uint> requested, FileAttributes a, FileHandle handle, FattrContext server, IExportedTree statsFrom)
    {
        using var w = new XdrWriter(256);
        Write(w, requested, a, handle, server, statsFrom);
        var r = new XdrReader(w.WrittenSpan);
        Wire.ReadBitmap(ref r);
        return r.ReadOpaque(int.MaxValue).ToArray();
    }
}

/// <summary>Decodes a fattr4 for SETATTR, OPEN and CREATE (createattrs).</summary>
internal static class FattrDecoder
{
    /// <summary>
    /// Reads a fattr4. Returns Ok with the changes, or the status RFC 8881 asks for: ATTRNOTSUPP for an attribute
    /// <paramref name="server"/> (the COMPOUND's minor version: <see cref="Nfs4Server.FattrFor"/>) does not support, INVAL
    /// for a read-only one, BADOWNER for an owner that is not a number, BADXDR for values that do not parse.
    /// mode_umask (RFC 8275, minor version 2) is taken as the mode with the umask applied (mu_mode &amp; ~mu_umask), as
    /// knfsd applies it (no default ACLs here); only a create (<paramref name="creating"/>: OPEN's and CREATE's
    /// createattrs) may send it, and not beside mode: INVAL otherwise. time_deleg_access and time_deleg_modify (minor
    /// version 2; only SETATTR passes <paramref name="delegatedTimes"/>, elsewhere they are INVAL) come back as the access
    /// and modify times; SETATTR vets them (<see cref="DelegationAttributes"/>).
    /// </summary>
    public static NfsStat4 Read(uint[] bitmap, ReadOnlySpan<byte> values, FattrContext server, bool creating, out SetAttributes changes, bool delegatedTimes = false)
    {
        changes = new SetAttributes();
        var r = new XdrReader(values);
        if (Attr.IsSet(bitmap, Attr.ModeUmask) && Attr.IsSet(server.Supported, Attr.ModeUmask) && (!creating || Attr.IsSet(bitmap, Attr.Mode)))
            return NfsStat4.Inval;
        try
        {
            for (int attr = 0; attr < bitmap.Length * 32; attr++)
            {
                if (!Attr.IsSet(bitmap, attr))
                    continue;
                if (!Attr.IsSet(server.Supported, attr))
                    return NfsStat4.AttrNotSupp;
                if (!Attr.IsSet(Attr.Settable, attr) || (attr is Attr.TimeDelegAccess or Attr.TimeDelegModify && !delegatedTimes))
                    return NfsStat4.Inval;
                switch (attr)
                {
                    case Attr.Size:
                        changes = changes with { Size = r.ReadUInt64() };
                        break;
                    case Attr.Mode:
                        changes = changes with { Mode = r.ReadUInt32() & 0xFFF };
                        break;
                    case Attr.ModeUmask:
                        uint mode = r.ReadUInt32(), umask = r.ReadUInt32();
                        changes = changes with { Mode = mode & 0xFFF & ~(umask & 0x1FF) };
                        break;
                    case Attr.Owner:
                        if (!TryParseId(r.ReadOpaque(Wire.MaxOpaque), out uint uid))
                            return NfsStat4.BadOwner;
                        changes = changes with { Uid = uid };
                        break;
                    case Attr.OwnerGroup:
                        if (!TryParseId(r.ReadOpaque(Wire.MaxOpaque), out uint gid))
                            return NfsStat4.BadOwner;
                        changes = changes with { Gid = gid };
                        break;
                    case Attr.TimeAccessSet:
                        changes = ReadTimeHow(ref r) switch
                        {
                            TimeHow.SetToClientTime => changes with { AccessTime = ReadTime(ref r) },
                            _ => changes with { AccessTimeNow = true },
                        };
                        break;
                    case Attr.TimeModifySet:
                        changes = ReadTimeHow(ref r) switch
                        {
                            TimeHow.SetToClientTime => changes with { ModifyTime = ReadTime(ref r) },
                            _ => changes with { ModifyTimeNow = true },
                        };
                        break;
                    case Attr.TimeDelegAccess:
                        changes = changes with { AccessTime = ReadTime(ref r) };
                        break;
                    case Attr.TimeDelegModify:
                        changes = changes with { ModifyTime = ReadTime(ref r) };
                        break;
                }
            }
            return r.Remaining == 0 ? NfsStat4.Ok : NfsStat4.BadXdr;
        }
        catch (XdrException)
        {
            return NfsStat4.BadXdr;
        }
    }

    private enum TimeHow : uint
    {
        SetToServerTime = 0,
        SetToClientTime = 1,
    }

    /// <summary>time_how4 (RFC 8881 §3.3.9 settime4): any value but SET_TO_SERVER_TIME4 and SET_TO_CLIENT_TIME4 is bad XDR.</summary>
    private static TimeHow ReadTimeHow(ref XdrReader r)
    {
        uint how = r.ReadUInt32();
        if (how > (uint)TimeHow.SetToClientTime)
            XdrException.Throw($"time_how4 {how}");
        return (TimeHow)how;
    }

    private static FsTime ReadTime(ref XdrReader r)
    {
        long seconds = r.ReadInt64();
        uint nanos = r.ReadUInt32();
        if (nanos >= 1_000_000_000)
            XdrException.Throw("nseconds out of range");
        return new FsTime(seconds, nanos);
    }

    /// <summary>Owners are numeric strings ("1000"), as Linux clients send them with AUTH_SYS and no id mapping.</summary>
    private static bool TryParseId(ReadOnlySpan<byte> utf8, out uint id)
    {
        id = 0;
        if (utf8.IsEmpty || utf8.Length > 10)
            return false;
        return uint.TryParse(Encoding.UTF8.GetString(utf8), NumberStyles.None, CultureInfo.InvariantCulture, out id);
    }
}
