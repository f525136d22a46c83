namespace Leasehold.Export;

/// <summary>
/// Extended attributes of RFC 8276 on an exported tree: the user namespace only. A name here is what the client sends
/// (RFC 8276 §5.3.1: no "user." prefix; the tree adds it): 1 to 255 bytes of UTF-8 with no NUL once prefixed, else
/// InvalidName (empty, NUL) or NameTooLong. Values are at most <see cref="MaxValueSize"/> bytes (XattrTooBig beyond).
/// Regular files and directories carry them; other types are WrongType (Linux keeps user.* xattrs off symlinks and
/// special files).
/// </summary>
/// <remarks>Permission is the file's (RFC 8276 §8.4.1 defers to it): reading and listing need read permission, setting
/// and removing write permission (or ownership); on a sticky directory only its owner (or root) may set or remove
/// (NotPermitted), as Linux's xattr_permission() rules for user.*. Changes ask the change gate with
/// <see cref="ChangeKind.ExtendedAttributes"/> first (other clients' delegations are recalled, §8.4.2.1); a read-only
/// export refuses them with ReadOnly. Reading and listing ask no gate: no delegation lets a client cache xattr
/// changes, so the file's own are always current.</remarks>
public interface IExtendedAttributes
{
    /// <summary>The largest value, in bytes (64 KiB, Linux's XATTR_SIZE_MAX, unless the filesystem allows less).</summary>
    int MaxValueSize { get; }

    /// <summary>
    /// GETXATTR (§8.4.2): the value; NoXattr when the file has no attribute of that name. Whether the value fits the
    /// session's reply is the NFS layer's question (NFS4ERR_XATTR2BIG).
    /// </summary>
    FsResult<byte[]> Get(Caller caller, FileHandle file, string name);

    /// <summary>
    /// SETXATTR (§8.4.3): sets the value. <paramref name="mode"/> Create fails with Exists when the name is there,
    /// Replace with NoXattr when it is not. NoSpace when the filesystem has no room for it.
    /// </summary>
    ValueTask<FsStatus> SetAsync(Caller caller, FileHandle file, string name, ReadOnlyMemory<byte> value, XattrSetMode mode, ChangeContext context, CancellationToken cancellationToken);

    /// <summary>
    /// LISTXATTRS (§8.4.4): the names (without "user."), from <paramref name="cookie"/> on (0 = the start; a cookie is the
    /// index of the next name), at most <paramref name="maxBytes"/> of XDR (each name costs 4 + its padded length):
    /// the names, the cookie to continue from, and whether the list ended. Names are in ordinal order of their bytes, so
    /// a cookie means the same place from call to call while the set is unchanged. XattrTooBig when not even the first
    /// name fits (the NFS layer answers NFS4ERR_TOOSMALL there, as RFC 8276 §8.4.4 and knfsd do); Invalid for a cookie
    /// past the end (NFS4ERR_BADCOOKIE). A cookie equal to the count is the end: no names, End true.
    /// </summary>
    FsResult<(IReadOnlyList<string> Names, ulong NextCookie, bool End)> List(Caller caller, FileHandle file, ulong cookie, int maxBytes);

    /// <summary>REMOVEXATTR (§8.4.5): removes the attribute; NoXattr when it is not there.</summary>
    ValueTask<FsStatus> RemoveAsync(Caller caller, FileHandle file, string name, ChangeContext context, CancellationToken cancellationToken);
}

/// <summary>SETXATTR's setxattr_option4 (RFC 8276 §8.3): SETXATTR4_EITHER = 0, CREATE = 1, REPLACE = 2.</summary>
public enum XattrSetMode
{
    Either = 0,
    Create = 1,
    Replace = 2,
}
