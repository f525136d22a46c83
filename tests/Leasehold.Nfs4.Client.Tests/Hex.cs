namespace Leasehold.Nfs4.Client.Tests;

/// <summary>Golden bytes written as hex words with spaces and comments: "00000001 # one".</summary>
internal static class Hex
{
    public static byte[] Parse(string text)
    {
        var lines = text.Split('\n').Select(l => l.Split('#')[0]);
        return Convert.FromHexString(string.Concat(lines.SelectMany(l => l.Where(Uri.IsHexDigit))));
    }

    public static string Of(ReadOnlySpan<byte> bytes) => Convert.ToHexString(bytes);
}
