using System.Text;

namespace Leasehold.Nfs4.Client;

// CompoundBuilder, the extended attribute operations of NFSv4.2 (RFC 8276 §8.4). Names are xattrkey4: without the
// "user." prefix a Linux client strips (the server adds it back).
public sealed partial class CompoundBuilder
{
    /// <summary>GETXATTR (RFC 8276 §8.4.2) of the current filehandle's attribute <paramref name="name"/>.</summary>
    public CompoundBuilder GetXattr(string name) => GetXattr(Encoding.UTF8.GetBytes(name));

    /// <summary>GETXATTR with the name as bytes (any bytes, for tests of what the server refuses).</summary>
    public CompoundBuilder GetXattr(ReadOnlySpan<byte> name)
    {
        Op(NfsOpcode.GetXattr).WriteOpaque(name);
        return this;
    }

    /// <summary>SETXATTR (§8.4.3): sets <paramref name="name"/> to <paramref name="value"/> as <paramref name="option"/> says.</summary>
    public CompoundBuilder SetXattr(string name, ReadOnlySpan<byte> value, SetXattrOption option = SetXattrOption.Either) =>
        SetXattr(Encoding.UTF8.GetBytes(name), value, (uint)option);

    /// <summary>SETXATTR with the name as bytes and the option as a number (any, for tests of what the server refuses).</summary>
    public CompoundBuilder SetXattr(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, uint option)
    {
        var w = Op(NfsOpcode.SetXattr);
        w.WriteUInt32(option);
        w.WriteOpaque(name);
        w.WriteOpaque(value);
        return this;
    }

    /// <summary>LISTXATTRS (§8.4.4): names from <paramref name="cookie"/> (0: the start) within <paramref name="maxCount"/> bytes of result.</summary>
    public CompoundBuilder ListXattrs(ulong cookie, uint maxCount)
    {
        var w = Op(NfsOpcode.ListXattrs);
        w.WriteUInt64(cookie);
        w.WriteUInt32(maxCount);
        return this;
    }

    /// <summary>REMOVEXATTR (§8.4.5) of the current filehandle's attribute <paramref name="name"/>.</summary>
    public CompoundBuilder RemoveXattr(string name)
    {
        Op(NfsOpcode.RemoveXattr).WriteOpaque(Encoding.UTF8.GetBytes(name));
        return this;
    }
}
