namespace Leasehold.Nfs4.Client;

/// <summary>setxattr_option4 (RFC 8276 §8.3).</summary>
public enum SetXattrOption : uint
{
    /// <summary>SETXATTR4_EITHER: create or replace.</summary>
    Either = 0,

    /// <summary>SETXATTR4_CREATE: NFS4ERR_EXIST when the attribute exists.</summary>
    Create = 1,

    /// <summary>SETXATTR4_REPLACE: NFS4ERR_NOXATTR when it does not.</summary>
    Replace = 2,
}

/// <summary>GETXATTR's result: the value (empty when the op failed).</summary>
public sealed record GetXattrResult(NfsStat4 Status, byte[] Value) : OpResult(NfsOpcode.GetXattr, Status);

/// <summary>LISTXATTRS4resok: the cookie to continue from, the names (as sent, UTF-8), and whether the list ended.</summary>
public sealed record ListXattrsResult(NfsStat4 Status, ulong Cookie, IReadOnlyList<string> Names, bool Eof) : OpResult(NfsOpcode.ListXattrs, Status);
