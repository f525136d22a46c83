using System.Security.Cryptography;
using Leasehold.Export.Native;

namespace Leasehold.Export;

/// <summary>
/// The file handle signing key on disk: <c>&lt;state directory&gt;/handle-key</c>, <see cref="KeySize"/> random bytes,
/// mode 0600 in a 0700 directory. A single server makes it on first start (<see cref="LocalDirectoryTree"/> does);
/// a cluster node reads it as its candidate for the cluster's key and installs the cluster's key where it has none,
/// so that the node keeps it if it ever serves alone.
/// </summary>
public static class HandleKeyFile
{
    /// <summary>The key's length in bytes (a HMAC-SHA256 key).</summary>
    public const int KeySize = HandleSigner.KeySize;

    /// <summary>The key file's name in the state directory.</summary>
    public const string FileName = HandleSigner.KeyFileName;

    /// <summary>The key file's path in <paramref name="stateDirectory"/>.</summary>
    public static string PathIn(string stateDirectory) => Path.Join(stateDirectory, FileName);

    /// <summary>A new random key of <see cref="KeySize"/> bytes.</summary>
    public static byte[] NewKey() => RandomNumberGenerator.GetBytes(KeySize);

    /// <summary>
    /// The key in <paramref name="stateDirectory"/>, or null when there is no key file.
    /// </summary>
    /// <exception cref="InvalidDataException">The file is not <see cref="KeySize"/> bytes; the message names it and says what to do.</exception>
    public static byte[]? Read(string stateDirectory)
    {
        string keyPath = PathIn(stateDirectory);
        byte[] key;
        try
        {
            key = File.ReadAllBytes(keyPath);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        if (key.Length != KeySize)
            throw new InvalidDataException($"{keyPath} has {key.Length} bytes, not {KeySize}: restore it, or delete it to invalidate every handle.");
        return key;
    }

    /// <summary>
    /// Installs <paramref name="key"/> as the key of <paramref name="stateDirectory"/> (made 0700 if missing) unless it
    /// already has one, and returns the key the directory holds afterwards: <paramref name="key"/>, or the one that was
    /// there (or that another server installed at the same moment). The key is written to a temporary file, flushed and
    /// linked into place, so a crash never leaves a short key and two servers starting at once agree on one.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="key"/> is not <see cref="KeySize"/> bytes.</exception>
    /// <exception cref="InvalidDataException">The key already there is corrupt (see <see cref="Read"/>).</exception>
    public static byte[] Install(string stateDirectory, ReadOnlySpan<byte> key) => Install(stateDirectory, key, out _);

    internal static byte[] Install(string stateDirectory, ReadOnlySpan<byte> key, out bool installed)
    {
        if (key.Length != KeySize)
            throw new ArgumentException($"A handle key has {KeySize} bytes, not {key.Length}.", nameof(key));
        if (!OperatingSystem.IsLinux())
            throw new PlatformNotSupportedException("The export layer runs on Linux only.");
        installed = false;
        Directory.CreateDirectory(stateDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        string keyPath = PathIn(stateDirectory);
        if (!File.Exists(keyPath))
        {
            string temporary = keyPath + ".tmp-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(8));
            try
            {
                var options = new FileStreamOptions
                {
                    Mode = FileMode.CreateNew,
                    Access = FileAccess.Write,
                    UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
                };
                using (var stream = new FileStream(temporary, options))
                {
                    stream.Write(key);
                    stream.Flush(flushToDisk: true);
                }
                try
                {
                    File.Move(temporary, keyPath, overwrite: false); // link + unlink: fails if another server won the race
                    SyncDirectory(stateDirectory);
                    installed = true;
                }
                catch (IOException) when (File.Exists(keyPath))
                {
                    // Another server made the key first; use theirs.
                }
            }
            finally
            {
                File.Delete(temporary);
            }
        }
        return Read(stateDirectory) ?? throw new IOException($"{keyPath} vanished while it was being installed.");
    }

    private static void SyncDirectory(string directory)
    {
        using SafeFd fd = LibC.openat(LibC.AT_FDCWD, directory, LibC.O_RDONLY | LibC.O_DIRECTORY | LibC.O_CLOEXEC, 0);
        if (!fd.IsInvalid)
            _ = LibC.fsync(fd);
    }
}
