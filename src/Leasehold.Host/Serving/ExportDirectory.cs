using System.Runtime.InteropServices;
using Leasehold.Export;
using Leasehold.Host.Settings;

namespace Leasehold.Host.Serving;

/// <summary>
/// Checks the export and its state directory before the tree opens them, so a refused start says what is wrong in
/// words ("is a file, not a directory", "permission denied") instead of an errno or "The file ... already exists".
/// </summary>
internal static class ExportDirectory
{
    /// <summary>
    /// Makes sure the export is a directory this process can read and enter. A missing one is created (with its
    /// parents) only when <paramref name="create"/>: for the default ./export, or with <c>serve --create</c>.
    /// </summary>
    public static void Prepare(ExportOptions options, bool create)
    {
        if (!OperatingSystem.IsLinux())
            throw Refuse("Leasehold serves from Linux only (it needs file handles, O_PATH and /proc/self/fd)");
        string path = options.FullPath;
        if (File.Exists(path))
            throw Refuse($"the export {path} is a file, not a directory");
        if (!Directory.Exists(path))
        {
            CheckAncestors(path, "the export");
            if (!create)
                throw Refuse($"the export {path} does not exist (create it, or pass --create to have it created)");
            try
            {
                Directory.CreateDirectory(path);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw Refuse($"cannot create the export {path}: {Reason(ex)}", ex);
            }
        }
        try
        {
            using var entries = Directory.EnumerateFileSystemEntries(path).GetEnumerator();
            entries.MoveNext();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw Refuse($"cannot read the export {path}: {Reason(ex)}", ex);
        }
        // Reading a directory needs r; looking names up in it needs x, without which every LOOKUP would fail.
        if (!CanSearch(path))
            throw Refuse($"cannot enter the export {path}: permission denied (a directory needs x permission to be searched)");

        string state = options.ResolvedStateDirectory;
        if (File.Exists(state))
            throw Refuse($"the state directory {state} is a file, not a directory (it holds the key that signs file handles)");
        if (!Directory.Exists(state))
        {
            CheckAncestors(state, "the state directory");
            try
            {
                Directory.CreateDirectory(state, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw Refuse($"cannot create the state directory {state}: {Reason(ex)} (set Export:StateDirectory to a writable place)", ex);
            }
        }
    }

    /// <summary>For a path that does not exist: refuses when an ancestor is a file or cannot be searched.</summary>
    private static void CheckAncestors(string path, string what)
    {
        for (string? parent = Path.GetDirectoryName(path); parent is not null; parent = Path.GetDirectoryName(parent))
        {
            if (File.Exists(parent))
                throw Refuse($"{what} {path} cannot exist: {parent} is a file, not a directory");
            if (Directory.Exists(parent))
            {
                if (!CanSearch(parent))
                    throw Refuse($"cannot reach {what} {path}: permission denied on {parent}");
                return;
            }
        }
    }

    /// <summary>Whether this process may look names up in <paramref name="directory"/> (access(2) X_OK, with the effective ids).</summary>
    private static bool CanSearch(string directory) => faccessat(AtFdCwd, directory, XOk, AtEAccess) == 0;

    private const int AtFdCwd = -100;
    private const int XOk = 1;
    private const int AtEAccess = 0x200;

    [DllImport("libc", SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    private static extern int faccessat(int dirfd, string path, int mode, int flags);

    /// <summary>The reason in a few words, without .NET's "Access to the path ... is denied." phrasing.</summary>
    internal static string Reason(Exception ex) => ex switch
    {
        UnauthorizedAccessException => "permission denied",
        _ => ex.Message.TrimEnd('.'),
    };

    private static StartupException Refuse(string message, Exception? inner = null) => new(message, StartupFault.Environment, inner);
}
