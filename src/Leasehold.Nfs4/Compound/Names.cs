using System.Text;
using Leasehold.Nfs4.Protocol;

namespace Leasehold.Nfs4.Compound;

/// <summary>Checks a component name off the wire (RFC 8881 §14.5 and the per-operation error lists).</summary>
internal static class Names
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static NfsStat4 Validate(byte[] raw, out string name)
    {
        name = string.Empty;
        if (raw.Length == 0)
            return NfsStat4.Inval;
        if (raw.Length > Wire.MaxName)
            return NfsStat4.NameTooLong;
        try
        {
            name = StrictUtf8.GetString(raw);
        }
        catch (DecoderFallbackException)
        {
            return NfsStat4.Inval; // not UTF-8
        }
        if (name is "." or "..")
            return NfsStat4.BadName;
        if (name.Contains('/') || name.Contains('\0'))
            return NfsStat4.BadChar;
        return NfsStat4.Ok;
    }
}
