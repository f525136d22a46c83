using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Protocol;

/// <summary>Small XDR shapes NFSv4 uses everywhere (RFC 8881 §3.3).</summary>
internal static class Wire
{
    public const int MaxOpaque = 1024; // NFS4_OPAQUE_LIMIT
    public const int MaxName = 255;    // longest component name we accept off the wire (NAME_MAX)
    public const int MaxBitmapWords = 8;
    public const int SessionIdSize = 16;
    public const int VerifierSize = 8;

    /// <summary>bitmap4: uint32&lt;&gt;.</summary>
    public static uint[] ReadBitmap(ref XdrReader r)
    {
        int count = r.ReadArrayCount(MaxBitmapWords);
        var words = new uint[count];
        for (int i = 0; i < count; i++)
            words[i] = r.ReadUInt32();
        return words;
    }

    public static void WriteBitmap(XdrWriter w, ReadOnlySpan<uint> words)
    {
        int length = words.Length;
        while (length > 0 && words[length - 1] == 0)
            length--;
        w.WriteUInt32((uint)length);
        for (int i = 0; i < length; i++)
            w.WriteUInt32(words[i]);
    }

    public static ulong ReadVerifier(ref XdrReader r) => System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(r.ReadFixedOpaque(VerifierSize));

    public static void WriteVerifier(XdrWriter w, ulong verifier) => w.WriteUInt64(verifier);

    public static byte[] ReadSessionId(ref XdrReader r) => r.ReadFixedOpaque(SessionIdSize).ToArray();
}
