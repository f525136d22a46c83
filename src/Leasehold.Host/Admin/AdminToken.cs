using System.Security.Cryptography;
using System.Text;

namespace Leasehold.Host.Admin;

/// <summary>
/// The admin endpoint's secret: 32 random bytes, base64url, in &lt;state directory&gt;/admin.token (mode 0600), made at
/// the first start and kept across restarts, so scripts and the CLI read it from there. A request proves it knows it
/// with "Authorization: Bearer TOKEN" (or, for the status page in a browser, the cookie that "?token=TOKEN" sets).
/// </summary>
public static class AdminToken
{
    public const string FileName = "admin.token";

    /// <summary>The token in <paramref name="stateDirectory"/>, made if missing. Throws IOException when it cannot be read or written.</summary>
    public static string LoadOrCreate(string stateDirectory)
    {
        if (!OperatingSystem.IsLinux())
            throw new PlatformNotSupportedException("The admin endpoint runs on Linux only.");
        string path = Path.Join(stateDirectory, FileName);
        if (File.Exists(path))
        {
            string existing = File.ReadAllText(path).Trim();
            if (existing.Length >= 32)
                return existing;
        }
        string token = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        string temporary = path + ".new";
        using (var stream = new FileStream(temporary, new FileStreamOptions
        {
            Mode = FileMode.Create,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        }))
        {
            stream.Write(Encoding.ASCII.GetBytes(token + "\n"));
            stream.Flush(flushToDisk: true);
        }
        File.Move(temporary, path, overwrite: true);
        return token;
    }

    /// <summary>Compares in constant time.</summary>
    public static bool Matches(string expected, string? offered) =>
        offered is not null && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(expected), Encoding.UTF8.GetBytes(offered));
}
