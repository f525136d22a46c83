using System.Globalization;
using System.Text;
using Google.Protobuf;
using Leasehold.Engine;

namespace Leasehold.Cluster;

/// <summary>
/// The cluster's etcd key layout, under the prefix P (docs/architecture.md "Cluster"):
/// <code>
///   P/nodes/&lt;node&gt;                         the node is alive (short lease; put only if absent)
///   P/handle-key                          the file-handle key shared by every node (no lease; first node's wins)
///   P/root                                the signed root handle every node must export (no lease)
///   P/f/&lt;file&gt;/tok/&lt;node&gt;                 the node's token rights on the file, one byte (short lease)
///   P/f/&lt;file&gt;/open/&lt;node&gt;                the R/W bits of that token (long lease: survives a short loss of etcd)
///   P/inbox/&lt;holder&gt;/&lt;file&gt;/&lt;requester&gt;  a request for the holder to give rights up: {rights, strength} (requester's short lease)
/// </code>
/// &lt;file&gt; is the file key in 16 lower-case hex digits (32 when its high half is not zero).
/// </summary>
internal sealed class ClusterKeys(string prefix, string node)
{
    public string Prefix { get; } = prefix;

    public string Node { get; } = node;

    public ByteString NodeKey => Key($"nodes/{Node}");

    public ByteString HandleKey => Key("handle-key");

    public ByteString Root => Key("root");

    /// <summary>Every file's keys: the prefix the file watch covers.</summary>
    public ByteString Files => Key("f/");

    public ByteString FileRange(FileKey file) => Key($"f/{Name(file)}/");

    public ByteString Token(FileKey file, string node) => Key($"f/{Name(file)}/tok/{node}");

    public ByteString OpenClaim(FileKey file, string node) => Key($"f/{Name(file)}/open/{node}");

    /// <summary>This node's inbox: the prefix its inbox watch covers.</summary>
    public ByteString Inbox => Key($"inbox/{Node}/");

    public ByteString InboxEntry(string holder, FileKey file, string requester) => Key($"inbox/{holder}/{Name(file)}/{requester}");

    public static string Name(FileKey file) =>
        file.High == 0 ? file.Low.ToString("x16", CultureInfo.InvariantCulture) : $"{file.High:x16}{file.Low:x16}";

    public static bool TryParseName(ReadOnlySpan<char> name, out FileKey file)
    {
        file = default;
        if (name.Length == 16 && ulong.TryParse(name, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong low))
        {
            file = FileKey.From(low);
            return true;
        }
        if (name.Length == 32 && ulong.TryParse(name[..16], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong high) &&
            ulong.TryParse(name[16..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out low))
        {
            file = new FileKey(high, low);
            return true;
        }
        return false;
    }

    /// <summary>A key below <c>P/f/</c>: its file, kind ("tok" or "open") and node, or false for anything else.</summary>
    public bool TryParseFileKey(ByteString key, out FileKey file, out string kind, out string node)
    {
        file = default;
        kind = node = "";
        string k = key.ToStringUtf8();
        string head = Prefix + "f/";
        if (!k.StartsWith(head, StringComparison.Ordinal))
            return false;
        string[] parts = k[head.Length..].Split('/');
        if (parts.Length != 3 || !TryParseName(parts[0], out file) || (parts[1] != "tok" && parts[1] != "open") || parts[2].Length == 0)
            return false;
        kind = parts[1];
        node = parts[2];
        return true;
    }

    /// <summary>A key below this node's inbox: the file and the requester, or false for anything else.</summary>
    public bool TryParseInboxKey(ByteString key, out FileKey file, out string requester)
    {
        file = default;
        requester = "";
        string k = key.ToStringUtf8();
        string head = Inbox.ToStringUtf8();
        if (!k.StartsWith(head, StringComparison.Ordinal))
            return false;
        string[] parts = k[head.Length..].Split('/');
        if (parts.Length != 2 || !TryParseName(parts[0], out file) || parts[1].Length == 0)
            return false;
        requester = parts[1];
        return true;
    }

    /// <summary>The range end that makes a request cover every key starting with <paramref name="prefix"/> (etcd's prefix convention: the last byte plus one).</summary>
    public static ByteString RangeEnd(ByteString prefix)
    {
        byte[] end = prefix.ToByteArray();
        for (int i = end.Length - 1; i >= 0; i--)
        {
            if (end[i] < 0xff)
            {
                end[i]++;
                return ByteString.CopyFrom(end, 0, i + 1);
            }
        }
        return ByteString.CopyFrom(0);
    }

    public static ByteString Request(TokenRights rights, TokenStrength strength) => ByteString.CopyFrom((byte)rights, (byte)strength);

    public static bool TryParseRequest(ByteString value, out TokenRights rights, out TokenStrength strength)
    {
        rights = TokenRights.None;
        strength = TokenStrength.Need;
        if (value.Length != 2 || value[0] > (byte)TokenRights.All || value[1] > (byte)TokenStrength.Want)
            return false;
        rights = (TokenRights)value[0];
        strength = (TokenStrength)value[1];
        return true;
    }

    public static ByteString Rights(TokenRights rights) => ByteString.CopyFrom((byte)rights);

    public static TokenRights ParseRights(ByteString value) => value.Length == 1 ? (TokenRights)(value[0] & (byte)TokenRights.All) : TokenRights.None;

    private ByteString Key(string rest) => ByteString.CopyFrom(Encoding.UTF8.GetBytes(Prefix + rest));
}
