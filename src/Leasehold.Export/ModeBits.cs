using Leasehold.Export.Native;

namespace Leasehold.Export;

/// <summary>
/// POSIX permission checks from the mode bits, for a <see cref="Caller"/> rather than this process (which runs as
/// root and so would be allowed everything). Pure functions over owner, group and mode, as generic_permission() and
/// may_delete() in fs/namei.c decide them.
/// </summary>
internal static class ModeBits
{
    public const uint Read = 4;
    public const uint Write = 2;
    public const uint Execute = 1;

    /// <summary>
    /// Whether the caller has every bit of <paramref name="wanted"/> (rwx as 4/2/1) on the file. The first class that
    /// matches decides (owner, then group, then other), as in POSIX: an owner without a bit is refused even if "other"
    /// has it. Root may read and write anything and search any directory, but execute a file only if some x bit is set.
    /// </summary>
    public static bool Allows(Caller caller, uint fileUid, uint fileGid, uint mode, bool isDirectory, uint wanted)
    {
        if (caller.IsRoot)
            return (wanted & Execute) == 0 || isDirectory || (mode & 0b001_001_001) != 0;

        uint granted;
        if (caller.Uid == fileUid)
            granted = (mode >> 6) & 7;
        else if (caller.InGroup(fileGid))
            granted = (mode >> 3) & 7;
        else
            granted = mode & 7;
        return (granted & wanted) == wanted;
    }

    public static bool Allows(Caller caller, in Statx st, uint wanted) =>
        Allows(caller, st.Uid, st.Gid, st.Mode, st.IsDirectory, wanted);

    /// <summary>
    /// The sticky-directory rule (may_delete → check_sticky): in a directory with S_ISVTX, only the file's owner, the
    /// directory's owner or root may remove or rename an entry, whatever the write bit says.
    /// </summary>
    public static bool MayDeleteFromSticky(Caller caller, in Statx directory, in Statx file) =>
        (directory.Mode & LibC.S_ISVTX) == 0
        || caller.IsRoot
        || caller.Uid == file.Uid
        || caller.Uid == directory.Uid;

    /// <summary>Whether the caller owns the file or is root: what chmod, utimes to given times and chgrp require.</summary>
    public static bool IsOwnerOrRoot(Caller caller, in Statx st) => caller.IsRoot || caller.Uid == st.Uid;

    /// <summary>
    /// The ACCESS answer (RFC 8881 §18.1), mapped as knfsd's nfs4 access tables: on a directory Read lists it, Lookup
    /// searches it, Modify/Extend/Delete change its entries (write and search); on other files Read, Modify/Extend
    /// (write) and Execute apply, Lookup and Delete never do. A read-only export grants no change.
    /// </summary>
    public static AccessMask Granted(Caller caller, in Statx st, AccessMask asked, bool readOnlyExport)
    {
        AccessMask granted = 0;
        bool isDirectory = st.IsDirectory;
        if ((asked & AccessMask.Read) != 0 && Allows(caller, st, Read))
            granted |= AccessMask.Read;
        if (isDirectory)
        {
            if ((asked & AccessMask.Lookup) != 0 && Allows(caller, st, Execute))
                granted |= AccessMask.Lookup;
            if (!readOnlyExport && Allows(caller, st, Write | Execute))
                granted |= asked & (AccessMask.Modify | AccessMask.Extend | AccessMask.Delete);
        }
        else
        {
            if (!readOnlyExport && Allows(caller, st, Write))
                granted |= asked & (AccessMask.Modify | AccessMask.Extend);
            if ((asked & AccessMask.Execute) != 0 && Allows(caller, st, Execute))
                granted |= AccessMask.Execute;
        }
        return granted;
    }
}
