using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using Leasehold.Engine;

namespace Leasehold.Cluster;

/// <summary>
/// For tests and debugging: when <see cref="ClusterOptions.HistoryFile"/> names a file, one line per change of this node's
/// token on a file, <c>&lt;Stopwatch.GetTimestamp()&gt; &lt;node&gt; &lt;file:x&gt; &lt;rights-before&gt; &lt;rights-after&gt;</c>
/// (rights as numbers). A gain is written after etcd accepted it, a loss before etcd is told, so the intervals in the
/// file lie inside the ones etcd granted. Each line is one write(2) on an O_APPEND descriptor, so several node
/// processes can share the file without overwriting each other's lines (a .NET FileStream in Append mode would).
/// </summary>
internal sealed partial class TokenHistory : IDisposable
{
    private const int OWronly = 0x1, OCreat = 0x40, OAppend = 0x400, OCloexec = 0x80000;

    private readonly int _fd;
    private readonly string _node;

    private TokenHistory(int fd, string node)
    {
        _fd = fd;
        _node = node;
    }

    public static TokenHistory? Open(ClusterOptions options)
    {
        if (options.HistoryFile is not { Length: > 0 } path)
            return null;
        string node = options.Node;
        int fd = OpenFile(path, OWronly | OCreat | OAppend | OCloexec, 0x1a4 /* 0644 */);
        if (fd < 0)
            throw new IOException($"cannot open the cluster history file {path}: errno {Marshal.GetLastPInvokeError()}");
        return new TokenHistory(fd, node);
    }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<FileKey, TokenRights> _last = new();

    /// <summary>
    /// The node may now use <paramref name="after"/> on <paramref name="file"/>. Written only when that differs from the
    /// last line for the file, with that line's value as the "before", so the file is a sequence of changes whatever
    /// path (acquisition, yield, linger, fence, rejoin) made them.
    /// </summary>
    public void Record(FileKey file, TokenRights after)
    {
        lock (_last)
        {
            var before = _last.GetValueOrDefault(file);
            if (before == after)
                return;
            _last[file] = after;
            byte[] line = Encoding.ASCII.GetBytes($"{Stopwatch.GetTimestamp()} {_node} {file.Low:x} {(byte)before} {(byte)after}\n");
            _ = Write(_fd, line, line.Length); // best effort: a test and debugging record
        }
    }

    public void Dispose() => _ = Close(_fd);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int OpenFile(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    private static partial nint Write(int fd, byte[] buffer, nint count);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
