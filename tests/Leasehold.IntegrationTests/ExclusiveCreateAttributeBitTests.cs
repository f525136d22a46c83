using Leasehold.Nfs4.Client;
using Leasehold.Rpc.Xdr;

namespace Leasehold.IntegrationTests;

/// <summary>
/// EXCLUSIVE4_1 with each attribute bit the server does not offer in suppattr_exclcreat (issue 6, item 2; RFC 8881
/// §18.16.3): an attribute the server does not support at all is NFS4ERR_ATTRNOTSUPP, a supported one it cannot set at
/// exclusive create is NFS4ERR_INVAL (knfsd checks in that order), and in either case no file is created, so nothing
/// the client asked for is silently dropped or overwritten by the verifier.
/// </summary>
public sealed class ExclusiveCreateAttributeBitTests(ServerFixture fx) : IClassFixture<ServerFixture>
{
    private const uint OpOpen = 18;

    private Nfs4Session S => fx.Session;

    /// <summary>
    /// OPEN4args with EXCLUSIVE4_1 whose createattrs name only <paramref name="attr"/>: the settable times with a value
    /// (SET_TO_SERVER_TIME4), any other attribute with none, since the server refuses it before reading values.
    /// </summary>
    private static byte[] Exclusive41With(int attr, StateOwner owner, string name)
    {
        using var w = new XdrWriter(256);
        w.WriteUInt32(0); // seqid
        w.WriteUInt32((uint)ShareAccess.Both);
        w.WriteUInt32((uint)ShareDeny.None);
        w.WriteUInt64(owner.ClientId);
        w.WriteOpaque(owner.Owner);
        w.WriteUInt32(1); // OPEN4_CREATE
        w.WriteUInt32(3); // EXCLUSIVE4_1
        w.WriteUInt64(0x0102030405060708); // verifier
        var words = new uint[(attr / 32) + 1];
        words[attr / 32] = 1u << (attr % 32);
        w.WriteUInt32((uint)words.Length);
        foreach (uint word in words)
            w.WriteUInt32(word);
        w.WriteOpaque(attr is (int)FileAttr.TimeAccessSet or (int)FileAttr.TimeModifySet ? [0, 0, 0, 0] : []);
        w.WriteUInt32(0); // CLAIM_NULL
        w.WriteString(name);
        return w.WrittenSpan.ToArray();
    }

    [Fact]
    public async Task Every_attribute_outside_suppattr_exclcreat_is_refused_and_creates_nothing()
    {
        var root = await fx.RootAsync();
        var offered = (await S.GetAttrAsync(root, AttrBitmap.Of(FileAttr.SupportedAttrs, FileAttr.SuppattrExclcreat)).Bounded()).ValueOrThrow();
        var supported = offered.SupportedAttrs!;
        var exclusive = offered.SuppattrExclcreat!;
        string dirName = ServerFixture.NewName("exclbits");
        var dir = (await S.MkdirAsync(root, dirName).Bounded()).ValueOrThrow();

        var wrong = new List<string>();
        for (int attr = 0; attr < 96; attr++)
        {
            if (exclusive.Contains((FileAttr)attr))
                continue;
            var expected = supported.Contains((FileAttr)attr) ? NfsStat4.Inval : NfsStat4.AttrNotSupp;
            string name = $"a{attr}";
            using var c = new CompoundBuilder("excl-bit").PutFh(dir).Raw(OpOpen, Exclusive41With(attr, S.NewOwner(), name));
            var reply = await S.CompoundAsync(c).Bounded();
            if (reply.Status != expected)
                wrong.Add($"{(FileAttr)attr} ({attr}): {reply.Status}, expected {expected}");
        }
        Assert.Empty(wrong);
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Join(fx.ExportPath, dirName)));
    }
}
