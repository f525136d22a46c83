using Leasehold.Export;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Compound;

/// <summary>
/// Names off the wire (RFC 8881 §14.5, §15.1.7 and the per-operation error lists). Names are byte strings passed
/// through unchanged, as knfsd does: a name that is not UTF-8 is still a name (fs_charset_cap says the filesystem
/// may hold such names), so every name READDIR lists is one LOOKUP, OPEN, RENAME and REMOVE accept.
/// </summary>
internal static class Names
{
    /// <summary>PATH_MAX less the NUL: the longest symlink text the export stores.</summary>
    public const int MaxLinkText = 4095;

    /// <summary>
    /// Reads a component4 or linktext4 (utf8str_cs) of any length the record holds: a name longer than the limit is an
    /// answer (NAMETOOLONG from <see cref="Validate"/>), not a decoding failure. The copy is bounded by the request size.
    /// </summary>
    public static byte[] ReadComponent(ref XdrReader r) => r.ReadOpaque(int.MaxValue).ToArray();

    /// <summary>
    /// Checks a component name: empty is INVAL, longer than 255 bytes NAMETOOLONG, "." and ".." BADNAME (they would
    /// walk, and the server keeps no such entries), "/" or NUL BADCHAR (a character a component cannot hold here).
    /// Any other bytes, UTF-8 or not, are a name.
    /// </summary>
    public static NfsStat4 Validate(byte[] bytes, out FileName name)
    {
        name = default;
        if (bytes.Length == 0)
            return NfsStat4.Inval;
        if (bytes.Length > Wire.MaxName)
            return NfsStat4.NameTooLong;
        if (bytes.SequenceEqual("."u8) || bytes.SequenceEqual(".."u8))
            return NfsStat4.BadName;
        if (bytes.IndexOfAny((byte)'/', (byte)0) >= 0)
            return NfsStat4.BadChar;
        name = FileName.FromBytes(bytes);
        return NfsStat4.Ok;
    }

    /// <summary>Checks symlink text: empty is INVAL, longer than 4095 bytes NAMETOOLONG, NUL BADCHAR; "/" and ".." are fine (it is never followed here).</summary>
    public static NfsStat4 ValidateLinkText(byte[] text)
    {
        if (text.Length == 0)
            return NfsStat4.Inval;
        if (text.Length > MaxLinkText)
            return NfsStat4.NameTooLong;
        return text.AsSpan().Contains((byte)0) ? NfsStat4.BadChar : NfsStat4.Ok;
    }
}
