using System.Text;
using Leasehold.Export.Native;

namespace Leasehold.Export.Local;

/// <summary>
/// <see cref="IExtendedAttributes"/> over the local directory: the user.* namespace, by the path forms of getxattr(2)
/// and friends on the cached O_PATH descriptor's /proc/self/fd magic link (the f* forms refuse an O_PATH descriptor).
/// No descriptor of our own is opened, so nothing here can break a kernel lease of our own; a change still runs inside
/// the guard's suspension (<see cref="LocalDirectoryTree.SuspendFor"/>), because setxattr and removexattr break a kernel
/// delegation.
/// </summary>
internal sealed class ExtendedAttributes(LocalDirectoryTree tree) : IExtendedAttributes
{
    private const string UserPrefix = "user.";

    // A value or name list that grows between the probe of its length and the read (ERANGE) is read again, this often.
    private const int Attempts = 4;

    public int MaxValueSize => LibC.XATTR_SIZE_MAX;

    public unsafe FsResult<byte[]> Get(Caller caller, FileHandle file, string name)
    {
        FsStatus status = KeyOf(name, out byte[] key);
        if (status != FsStatus.Ok)
            return status;
        if ((status = Open(file, out SafeFd fd, out Statx st)) != FsStatus.Ok)
            return status;
        using (fd)
        {
            if (!ModeBits.Allows(caller, st, ModeBits.Read))
                return FsStatus.AccessDenied;
            string path = fd.ProcPath;
            fixed (byte* k = key)
            {
                for (int attempt = 0; attempt < Attempts; attempt++)
                {
                    nint length = LibC.getxattr(path, k, null, 0);
                    if (length < 0)
                        return tree.Fail(nameof(LibC.getxattr));
                    if (length > MaxValueSize)
                        return FsStatus.XattrTooBig;
                    byte[] value = new byte[length];
                    fixed (byte* v = value)
                    {
                        nint read = LibC.getxattr(path, k, v, (nuint)value.Length);
                        if (read >= 0)
                            return read == value.Length ? value : value[..(int)read];
                        if (LibC.LastErrno != Errno.ERANGE)
                            return tree.Fail(nameof(LibC.getxattr));
                    }
                }
            }
            return FsStatus.Delay; // the value kept growing under us: let the client ask again
        }
    }

    public async ValueTask<FsStatus> SetAsync(Caller caller, FileHandle file, string name, ReadOnlyMemory<byte> value, XattrSetMode mode,
        ChangeContext context, CancellationToken cancellationToken)
    {
        if (mode is not (XattrSetMode.Either or XattrSetMode.Create or XattrSetMode.Replace))
            return FsStatus.Invalid;
        FsStatus status = KeyOf(name, out byte[] key);
        if (status != FsStatus.Ok)
            return status;
        if (value.Length > MaxValueSize)
            return FsStatus.XattrTooBig;
        int flags = mode switch
        {
            XattrSetMode.Create => LibC.XATTR_CREATE,
            XattrSetMode.Replace => LibC.XATTR_REPLACE,
            _ => 0,
        };
        return await ChangeAsync(caller, file, context, fd => Set(fd, key, value.Span, flags), cancellationToken).ConfigureAwait(false);
    }

    public unsafe FsResult<(IReadOnlyList<string> Names, ulong NextCookie, bool End)> List(Caller caller, FileHandle file, ulong cookie, int maxBytes)
    {
        FsStatus status = Open(file, out SafeFd fd, out Statx st);
        if (status != FsStatus.Ok)
            return status;
        List<string> all;
        using (fd)
        {
            if (!ModeBits.Allows(caller, st, ModeBits.Read))
                return FsStatus.AccessDenied;
            FsResult<List<string>> names = ReadNames(fd.ProcPath);
            if (!names.IsOk)
                return names.Status;
            all = names.Value;
        }
        if (cookie > (ulong)all.Count)
            return FsStatus.Invalid;

        var page = new List<string>();
        long left = maxBytes;
        int next = (int)cookie;
        for (; next < all.Count; next++)
        {
            long cost = 4 + ((Encoding.UTF8.GetByteCount(all[next]) + 3L) & ~3L);
            if (cost > left)
                break;
            left -= cost;
            page.Add(all[next]);
        }
        if (page.Count == 0 && next < all.Count)
            return FsStatus.XattrTooBig;
        return (page, (ulong)next, next == all.Count);
    }

    public async ValueTask<FsStatus> RemoveAsync(Caller caller, FileHandle file, string name, ChangeContext context, CancellationToken cancellationToken)
    {
        FsStatus status = KeyOf(name, out byte[] key);
        if (status != FsStatus.Ok)
            return status;
        return await ChangeAsync(caller, file, context, fd => Remove(fd, key), cancellationToken).ConfigureAwait(false);
    }

    internal LocalDirectoryTree Tree => tree;

    /// <summary>
    /// The shape of every change (as the tree's own): a writable export, the file (regular or directory), permission,
    /// the gate, the guard suspended, then <paramref name="change"/> on the file's O_PATH descriptor.
    /// </summary>
    private async ValueTask<FsStatus> ChangeAsync(Caller caller, FileHandle file, ChangeContext context, Func<SafeFd, FsStatus> change,
        CancellationToken cancellationToken)
    {
        if (tree.Options.ReadOnly)
            return FsStatus.ReadOnly;
        FsStatus status = Open(file, out SafeFd fd, out Statx st);
        if (status != FsStatus.Ok)
            return status;
        using (fd)
        {
            if ((status = MayChange(caller, st)) != FsStatus.Ok)
                return status;
            using ChangeGrant grant = await tree.Gate.BeginAsync(st.Ino, ChangeKind.ExtendedAttributes, context, cancellationToken).ConfigureAwait(false);
            if (!grant.CanProceed)
                return LocalDirectoryTree.Refused(grant);
            using var suspension = tree.SuspendFor(st.Ino, ChangeKind.ExtendedAttributes);
            return change(fd);
        }
    }

    /// <summary>
    /// Setting or removing a user attribute needs write permission or ownership (RFC 8276 §8.4.1 defers to the file's
    /// permissions; ownership as knfsd's MAY_OWNER_OVERRIDE). On a sticky directory only its owner (or root) may, as
    /// xattr_permission() in fs/xattr.c rules, whatever the mode bits say.
    /// </summary>
    private static FsStatus MayChange(Caller caller, in Statx st)
    {
        if (st.IsDirectory && (st.Mode & LibC.S_ISVTX) != 0 && !ModeBits.IsOwnerOrRoot(caller, st))
            return FsStatus.NotPermitted;
        if (!ModeBits.Allows(caller, st, ModeBits.Write) && caller.Uid != st.Uid)
            return FsStatus.AccessDenied;
        return FsStatus.Ok;
    }

    private unsafe FsStatus Set(SafeFd fd, byte[] key, ReadOnlySpan<byte> value, int flags)
    {
        fixed (byte* k = key)
        fixed (byte* v = value)
        {
            // A NULL value pointer with size 0 is a valid empty value for setxattr(2); fixed gives NULL for an empty span.
            if (LibC.setxattr(fd.ProcPath, k, v, (nuint)value.Length, flags) != 0)
                return tree.Fail(nameof(LibC.setxattr));
        }
        return FsStatus.Ok;
    }

    private unsafe FsStatus Remove(SafeFd fd, byte[] key)
    {
        fixed (byte* k = key)
        {
            if (LibC.removexattr(fd.ProcPath, k) != 0)
                return tree.Fail(nameof(LibC.removexattr));
        }
        return FsStatus.Ok;
    }

    /// <summary>The file, which must be a regular file or a directory (Linux keeps user.* off everything else): WrongType.</summary>
    private FsStatus Open(FileHandle file, out SafeFd fd, out Statx st)
    {
        FsStatus status = tree.Resolve(file, out fd, out st);
        if (status != FsStatus.Ok)
            return status;
        if (st.IsRegular || st.IsDirectory)
            return FsStatus.Ok;
        fd.Dispose();
        fd = null!;
        return FsStatus.WrongType;
    }

    /// <summary>
    /// The user.* names of the file, prefix stripped, in ordinal order of their bytes, so a cookie (an index) means the
    /// same name from one LISTXATTRS to the next while the set is unchanged. Names that are not UTF-8 are left out: a
    /// client could not name them back (xattrkey4 is UTF-8).
    /// </summary>
    private unsafe FsResult<List<string>> ReadNames(string path)
    {
        for (int attempt = 0; attempt < Attempts; attempt++)
        {
            nint length = LibC.listxattr(path, null, 0);
            if (length < 0)
                return tree.Fail(nameof(LibC.listxattr));
            byte[] list = new byte[length];
            nint read;
            fixed (byte* l = list)
                read = LibC.listxattr(path, l, (nuint)list.Length);
            if (read < 0)
            {
                if (LibC.LastErrno == Errno.ERANGE)
                    continue;
                return tree.Fail(nameof(LibC.listxattr));
            }
            var names = new List<byte[]>();
            foreach (Range range in list.AsSpan(0, (int)read).Split((byte)0))
            {
                ReadOnlySpan<byte> one = list.AsSpan(0, (int)read)[range];
                if (one.Length > UserPrefix.Length && one.StartsWith("user."u8))
                    names.Add(one[UserPrefix.Length..].ToArray());
            }
            names.Sort(static (a, b) => a.AsSpan().SequenceCompareTo(b));
            var strict = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
            var result = new List<string>(names.Count);
            foreach (byte[] name in names)
            {
                try
                {
                    result.Add(strict.GetString(name));
                }
                catch (DecoderFallbackException)
                {
                    // not a name a client can send back
                }
            }
            return result;
        }
        return FsStatus.Delay;
    }

    /// <summary>
    /// "user." + <paramref name="name"/>, NUL-terminated, for the syscalls: InvalidName when empty or holding a NUL,
    /// NameTooLong past XATTR_NAME_MAX (255) bytes with the prefix (RFC 8276 §8.3 leaves the limit to the server).
    /// </summary>
    private static FsStatus KeyOf(string name, out byte[] key)
    {
        key = [];
        if (string.IsNullOrEmpty(name) || name.Contains('\0', StringComparison.Ordinal))
            return FsStatus.InvalidName;
        int length = UserPrefix.Length + Encoding.UTF8.GetByteCount(name);
        if (length > LibC.XATTR_NAME_MAX)
            return FsStatus.NameTooLong;
        key = new byte[length + 1];
        Encoding.ASCII.GetBytes(UserPrefix, key);
        Encoding.UTF8.GetBytes(name, key.AsSpan(UserPrefix.Length));
        return FsStatus.Ok;
    }
}
