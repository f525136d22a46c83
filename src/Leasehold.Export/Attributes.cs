using Leasehold.Export.Native;

namespace Leasehold.Export;

/// <summary>Turns kernel stat results into the contract's types.</summary>
internal static class Attributes
{
    public const uint StatxMask = LibC.STATX_BASIC_STATS | LibC.STATX_BTIME;

    public static FileAttributes From(in Statx st) => new(
        TypeOf(st.Mode),
        (uint)st.Mode & 0xFFF,
        st.NumLinks,
        st.Uid,
        st.Gid,
        st.Size,
        st.Blocks * 512, // stx_blocks counts 512-byte units whatever the block size
        st.Ino,
        st.RdevMajor,
        st.RdevMinor,
        Time(st.AccessTime),
        Time(st.ModifyTime),
        Time(st.ChangeTime),
        (st.Mask & LibC.STATX_BTIME) != 0 ? Time(st.BirthTime) : null,
        ChangeOf(st));

    /// <summary>
    /// The change attribute: the ctime in nanoseconds. The kernel moves ctime on every data or metadata change, at
    /// the filesystem's timestamp granularity (multigrain timestamps since 6.13 make two quick changes differ too).
    /// </summary>
    public static ulong ChangeOf(in Statx st) =>
        unchecked((ulong)st.ChangeTime.Seconds * 1_000_000_000UL + st.ChangeTime.Nanoseconds);

    public static FsStats From(in StatFs fs)
    {
        ulong unit = (ulong)(fs.FragmentSize > 0 ? fs.FragmentSize : fs.BlockSize);
        return new FsStats(
            fs.Blocks * unit,
            fs.FreeBlocks * unit,
            fs.AvailableBlocks * unit,
            fs.Files,
            fs.FreeFiles,
            fs.FreeFiles); // statfs has no "available to unprivileged" file count
    }

    private static FsTime Time(in StatxTimestamp t) => new(t.Seconds, t.Nanoseconds);

    private static FileType TypeOf(uint mode) => (mode & LibC.S_IFMT) switch
    {
        LibC.S_IFREG => FileType.Regular,
        LibC.S_IFDIR => FileType.Directory,
        LibC.S_IFLNK => FileType.Symlink,
        LibC.S_IFBLK => FileType.BlockDevice,
        LibC.S_IFCHR => FileType.CharacterDevice,
        LibC.S_IFSOCK => FileType.Socket,
        _ => FileType.Fifo,
    };
}
