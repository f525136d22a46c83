using System.Diagnostics;
using Leasehold.Engine;

namespace Leasehold.Cluster;

/// <summary>
/// Test-only: when the environment variable LEASEHOLD_CLUSTER_HISTORY names a file, one line per change of this node's
/// token on a file, <c>&lt;Stopwatch.GetTimestamp()&gt; &lt;node&gt; &lt;file:x&gt; &lt;rights-before&gt; &lt;rights-after&gt;</c>
/// (rights as numbers), appended and flushed line by line so several node processes can share the file. A gain is
/// written after etcd accepted it, a loss before etcd is told, so intervals on the file over-approximate the truth.
/// </summary>
internal sealed class TokenHistory : IDisposable
{
    private readonly StreamWriter _writer;
    private readonly string _node;
    private readonly Lock _gate = new();

    private TokenHistory(string path, string node)
    {
        _writer = new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete));
        _node = node;
    }

    public static TokenHistory? FromEnvironment(string node) =>
        Environment.GetEnvironmentVariable("LEASEHOLD_CLUSTER_HISTORY") is { Length: > 0 } path ? new TokenHistory(path, node) : null;

    public void Record(FileKey file, TokenRights before, TokenRights after)
    {
        if (before == after)
            return;
        lock (_gate)
        {
            _writer.WriteLine($"{Stopwatch.GetTimestamp()} {_node} {file} {(byte)before} {(byte)after}");
            _writer.Flush();
        }
    }

    public void Dispose()
    {
        lock (_gate)
            _writer.Dispose();
    }
}
