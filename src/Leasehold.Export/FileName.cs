using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace Leasehold.Export;

/// <summary>
/// One directory entry name as the filesystem stores it: a byte string, compared byte for byte, never decoded. Names
/// that are not UTF-8 (written by a local process in another charset) pass through unchanged, so every name a listing
/// returns is one that lookup, create, rename and remove accept, and two different names never look alike.
/// </summary>
/// <remarks>
/// Whether a name is acceptable (length, "/", NUL, "." and "..") is checked by the tree, not here: a name off the wire
/// must reach the place that answers NAMETOOLONG or BADNAME. The bytes are kept with a trailing NUL so the system
/// calls take them without a copy. A default value is the empty name.
/// </remarks>
public readonly struct FileName : IEquatable<FileName>, IComparable<FileName>
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    // The name's bytes followed by one NUL; null for the default (empty) name.
    private readonly byte[]? _terminated;

    private FileName(byte[] terminated) => _terminated = terminated;

    /// <summary>The name's bytes, without a terminator.</summary>
    public ReadOnlySpan<byte> Bytes => _terminated is null ? default : _terminated.AsSpan(0, _terminated.Length - 1);

    /// <summary>Length in bytes.</summary>
    public int Length => _terminated is null ? 0 : _terminated.Length - 1;

    public bool IsEmpty => Length == 0;

    /// <summary>Whether the bytes are well-formed UTF-8.</summary>
    public bool IsUtf8 => Utf8.IsValid(Bytes);

    /// <summary>The bytes and a NUL, for system calls; the name must not itself contain a NUL (the tree checks).</summary>
    internal ReadOnlySpan<byte> NulTerminated => _terminated ?? [0];

    /// <summary>Copies <paramref name="bytes"/> (from the wire or from getdents64).</summary>
    public static FileName FromBytes(ReadOnlySpan<byte> bytes)
    {
        var terminated = new byte[bytes.Length + 1];
        bytes.CopyTo(terminated);
        return new FileName(terminated);
    }

    /// <summary>The UTF-8 form of <paramref name="text"/>; a string with a lone surrogate has none (ArgumentException).</summary>
    public static FileName FromString(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        byte[] utf8;
        try
        {
            utf8 = StrictUtf8.GetBytes(text);
        }
        catch (EncoderFallbackException ex)
        {
            throw new ArgumentException("The name has a lone surrogate: it has no UTF-8 form.", nameof(text), ex);
        }
        return FromBytes(utf8);
    }

    public static implicit operator FileName(string text) => FromString(text);

    public bool Equals(FileName other) => Bytes.SequenceEqual(other.Bytes);

    public override bool Equals(object? obj) => obj is FileName other && Equals(other);

    /// <summary>Byte order (what <c>strcmp</c> gives; for UTF-8 names also code point order).</summary>
    public int CompareTo(FileName other) => Bytes.SequenceCompareTo(other.Bytes);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.AddBytes(Bytes);
        return hash.ToHashCode();
    }

    public static bool operator ==(FileName left, FileName right) => left.Equals(right);

    public static bool operator !=(FileName left, FileName right) => !left.Equals(right);

    public static bool operator <(FileName left, FileName right) => left.CompareTo(right) < 0;

    public static bool operator <=(FileName left, FileName right) => left.CompareTo(right) <= 0;

    public static bool operator >(FileName left, FileName right) => left.CompareTo(right) > 0;

    public static bool operator >=(FileName left, FileName right) => left.CompareTo(right) >= 0;

    /// <summary>
    /// For logs and tests: the text when the bytes are UTF-8, otherwise every byte that is not part of a valid sequence
    /// as <c>\xHH</c> (and a backslash as <c>\\</c>), so two different names never print alike.
    /// </summary>
    public override string ToString()
    {
        ReadOnlySpan<byte> rest = Bytes;
        if (Utf8.IsValid(rest) && !rest.Contains((byte)'\\'))
            return Encoding.UTF8.GetString(rest);
        var text = new StringBuilder(rest.Length + 8);
        while (!rest.IsEmpty)
        {
            OperationStatus status = Rune.DecodeFromUtf8(rest, out Rune rune, out int consumed);
            if (status == OperationStatus.Done)
            {
                if (rune.Value == '\\')
                    text.Append(@"\\");
                else
                    text.Append(rune.ToString());
            }
            else
            {
                consumed = 1;
                text.Append(@"\x").Append(rest[0].ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
            }
            rest = rest[consumed..];
        }
        return text.ToString();
    }
}
