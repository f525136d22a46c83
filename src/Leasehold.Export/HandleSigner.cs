using System.Buffers.Binary;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;

namespace Leasehold.Export;

/// <summary>
/// Makes and checks the bytes of a <see cref="FileHandle"/>:
/// <c>[version: 1][kernel handle_type: 4, little-endian][kernel f_handle][HMAC-SHA256 over all before, first 16 bytes]</c>.
/// The kernel part is what name_to_handle_at(2) gave, so open_by_handle_at(2) finds the same inode after a restart; the
/// MAC, keyed by a secret kept in the state directory, means a client cannot make up a handle for a file it was never
/// shown (open_by_handle_at would otherwise open any inode on the filesystem).
/// </summary>
internal sealed class HandleSigner
{
    public const byte Version = 1;
    public const int KeySize = 32;
    public const int MacSize = 16;
    public const int HeaderSize = 1 + 4;
    public const string KeyFileName = "handle-key";

    /// <summary>The largest kernel f_handle that still fits in <see cref="FileHandle.MaxSize"/> with our header and MAC.</summary>
    public const int MaxKernelHandleSize = FileHandle.MaxSize - HeaderSize - MacSize;

    private readonly byte[] _key;

    /// <summary>
    /// This thread's keyed HMAC and the signer it was keyed for, reused while the thread signs for the same signer: the
    /// one-shot <see cref="HMACSHA256.HashData(byte[], byte[])"/> sets the key up again on every call (1.9–3.2 µs a handle
    /// here, against 0.8–1.0 µs reused), and every NFS operation on a file not in the handle cache verifies one. A server
    /// has one export signer, so a thread rekeys only in tests that make many.
    /// </summary>
    [ThreadStatic]
    private static IncrementalHash? t_hmac;

    [ThreadStatic]
    private static HandleSigner? t_hmacOwner;

    public HandleSigner(byte[] key)
    {
        if (key.Length != KeySize)
            throw new ArgumentException($"A handle key has {KeySize} bytes.", nameof(key));
        _key = key;
    }

    /// <summary>HMAC-SHA256 of <paramref name="data"/> under this signer's key into <paramref name="mac"/> (32 bytes).</summary>
    private void Mac(ReadOnlySpan<byte> data, Span<byte> mac)
    {
        var hmac = t_hmac;
        if (hmac is null || !ReferenceEquals(t_hmacOwner, this))
        {
            hmac?.Dispose();
            t_hmac = hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, _key);
            t_hmacOwner = this;
        }
        hmac.AppendData(data);
        hmac.GetHashAndReset(mac);
    }

    public FileHandle Sign(int handleType, ReadOnlySpan<byte> kernelHandle)
    {
        if (kernelHandle.Length is 0 or > MaxKernelHandleSize)
            throw new ArgumentOutOfRangeException(nameof(kernelHandle), kernelHandle.Length, "Kernel handle does not fit.");
        var bytes = new byte[HeaderSize + kernelHandle.Length + MacSize];
        bytes[0] = Version;
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(1), handleType);
        kernelHandle.CopyTo(bytes.AsSpan(HeaderSize));
        Span<byte> mac = stackalloc byte[HMACSHA256.HashSizeInBytes];
        Mac(bytes.AsSpan(0, bytes.Length - MacSize), mac);
        mac[..MacSize].CopyTo(bytes.AsSpan(bytes.Length - MacSize));
        return new FileHandle(bytes);
    }

    /// <summary>True if this export signed <paramref name="handle"/>; then the kernel handle is at <paramref name="kernelHandle"/>.</summary>
    public bool TryVerify(ReadOnlySpan<byte> handle, out int handleType, out Range kernelHandle)
    {
        handleType = 0;
        kernelHandle = default;
        if (handle.Length < HeaderSize + 1 + MacSize || handle.Length > FileHandle.MaxSize || handle[0] != Version)
            return false;
        Span<byte> mac = stackalloc byte[HMACSHA256.HashSizeInBytes];
        Mac(handle[..^MacSize], mac);
        if (!CryptographicOperations.FixedTimeEquals(mac[..MacSize], handle[^MacSize..]))
            return false;
        handleType = BinaryPrimitives.ReadInt32LittleEndian(handle[1..]);
        kernelHandle = HeaderSize..(handle.Length - MacSize);
        return true;
    }

    /// <summary>
    /// A signer whose key is bound to one export root (its kernel handle: inode and generation), so two exports that
    /// share a state directory cannot take each other's handles, and a root that was deleted and made again starts
    /// with fresh handles.
    /// </summary>
    public HandleSigner ForExport(int rootHandleType, ReadOnlySpan<byte> rootKernelHandle)
    {
        byte[] context = new byte[ExportContextLabel.Length + 4 + rootKernelHandle.Length];
        ExportContextLabel.CopyTo(context);
        BinaryPrimitives.WriteInt32LittleEndian(context.AsSpan(ExportContextLabel.Length), rootHandleType);
        rootKernelHandle.CopyTo(context.AsSpan(ExportContextLabel.Length + 4));
        return new HandleSigner(HMACSHA256.HashData(_key, context));
    }

    private static ReadOnlySpan<byte> ExportContextLabel => "leasehold export root v1\0"u8;

    /// <summary>
    /// Reads the key from <paramref name="stateDirectory"/>, or makes one there on first start (directory 0700, key file
    /// 0600; see <see cref="HandleKeyFile.Install"/>). Throws <see cref="InvalidDataException"/> on a corrupt key:
    /// silently making a new one would turn every client's handles stale.
    /// </summary>
    public static HandleSigner LoadOrCreate(string stateDirectory, ILogger logger)
    {
        if (HandleKeyFile.Read(stateDirectory) is { } existing)
        {
            Log.KeyLoaded(logger, stateDirectory);
            return new HandleSigner(existing);
        }
        byte[] key = HandleKeyFile.Install(stateDirectory, HandleKeyFile.NewKey(), out bool installed);
        if (installed)
            Log.KeyCreated(logger, stateDirectory);
        return new HandleSigner(key);
    }
}
