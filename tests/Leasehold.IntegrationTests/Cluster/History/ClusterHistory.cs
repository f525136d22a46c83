using System.Globalization;
using Leasehold.Engine;

namespace Leasehold.IntegrationTests.Cluster.History;

/// <summary>A node's rights on a file changed, as the node's cluster layer logged it (LEASEHOLD_CLUSTER_HISTORY).</summary>
/// <param name="Timestamp">Stopwatch.GetTimestamp() in the node process: CLOCK_MONOTONIC, comparable across processes on one machine.</param>
public readonly record struct TokenChange(long Timestamp, string Node, ulong File, TokenRights Before, TokenRights After);

/// <summary>
/// A delegation as a test client saw it: from the OPEN reply that granted it to the moment the client sent DELEGRETURN
/// (or the node it came from died). That is inside the interval the server held it, so an overlap here is a real one.
/// </summary>
public readonly record struct ClientDelegation(string Node, string Client, ulong File, bool Write, long Begin, long End);

/// <summary>A node process died (SIGKILL) or stopped: every right it held ends here.</summary>
public readonly record struct NodeEnd(string Node, long Timestamp);

/// <summary>
/// Everything a randomized cluster run recorded, and the checker of the two properties issue 11 asks for: no two
/// conflicting grants across nodes were ever active at once, and no acknowledged write was lost.
/// </summary>
/// <remarks>
/// Two layers are checked. Node rights: for each file, the rights of any two nodes that overlap in time must not
/// conflict (<see cref="TokenRules.Conflict"/>). Delegations: every delegation a client saw must lie inside its node's
/// <see cref="TokenRights.ReadDelegation"/> (read) or <see cref="TokenRights.WriteDelegation"/> (write) interval, and two
/// clients on different nodes must never have seen conflicting delegations (both write, or one write) at once.
/// The second check does not trust the nodes' own logs: it stands even if a node's history were wrong.
/// </remarks>
public sealed class ClusterHistory
{
    public List<TokenChange> Tokens { get; } = [];
    public List<ClientDelegation> Delegations { get; } = [];
    public List<NodeEnd> NodeEnds { get; } = [];

    /// <summary>Last acknowledged (FILE_SYNC) version written to each (file name, region), by the one client owning the region.</summary>
    public Dictionary<(string File, int Region), int> AcknowledgedVersions { get; } = [];

    /// <summary>Highest version each region was ever sent with, acknowledged or not (a write that timed out may still have landed).</summary>
    public Dictionary<(string File, int Region), int> AttemptedVersions { get; } = [];

    /// <summary>
    /// Reads the token lines a node appended: <c>TIMESTAMP NODE FILE-HEX BEFORE AFTER</c>, rights as numbers or as
    /// <see cref="TokenRights"/> names. Blank lines are skipped; anything else is a format error (the test must fail, not
    /// check less than it thinks).
    /// </summary>
    public void AddTokenLog(string path)
    {
        foreach (var line in File.ReadLines(path))
        {
            if (string.IsNullOrWhiteSpace(line))
                continue;
            var w = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (w.Length != 5)
                throw new FormatException($"{path}: not a token line: '{line}'");
            Tokens.Add(new TokenChange(
                long.Parse(w[0], CultureInfo.InvariantCulture), w[1],
                ulong.Parse(w[2], NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                ParseRights(w[3]), ParseRights(w[4])));
        }
    }

    private static TokenRights ParseRights(string s) =>
        byte.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var b) ? (TokenRights)b : Enum.Parse<TokenRights>(s.Replace('|', ','));

    /// <summary>Every violation found, one line each; empty when the history is sound.</summary>
    public List<string> Check(Func<(string File, int Region), int>? finalVersion = null)
    {
        var problems = new List<string>();
        var intervals = RightsIntervals();
        CheckNodeRights(intervals, problems);
        CheckDelegations(intervals, problems);
        if (finalVersion is not null)
        {
            foreach (var (region, acked) in AcknowledgedVersions)
            {
                int found = finalVersion(region);
                int attempted = AttemptedVersions.GetValueOrDefault(region, acked);
                if (found < acked)
                    problems.Add($"lost write: {region.File} region {region.Region} holds version {found}, but version {acked} was acknowledged");
                else if (found > attempted)
                    problems.Add($"phantom write: {region.File} region {region.Region} holds version {found}, never written (last attempt {attempted})");
            }
        }
        return problems;
    }

    /// <summary>One node's rights on one file over [Begin, End).</summary>
    public readonly record struct RightsInterval(string Node, ulong File, TokenRights Rights, long Begin, long End);

    /// <summary>Turns each node's change lines into piecewise-constant intervals, cut at the node's ends.</summary>
    public List<RightsInterval> RightsIntervals()
    {
        var result = new List<RightsInterval>();
        var ends = NodeEnds.GroupBy(e => e.Node).ToDictionary(g => g.Key, g => g.Select(e => e.Timestamp).Order().ToList());
        foreach (var group in Tokens.GroupBy(t => (t.Node, t.File)))
        {
            var nodeEnds = ends.GetValueOrDefault(group.Key.Node) ?? [];
            var current = TokenRights.None;
            long since = 0;
            foreach (var change in group.OrderBy(t => t.Timestamp))
            {
                // A death between the last change and this one ended whatever was held; the new incarnation starts with none.
                foreach (var end in nodeEnds.Where(e => e >= since && e < change.Timestamp))
                {
                    if (current != TokenRights.None)
                        result.Add(new RightsInterval(group.Key.Node, group.Key.File, current, since, end));
                    current = TokenRights.None;
                    since = end;
                }
                if (current != TokenRights.None)
                    result.Add(new RightsInterval(group.Key.Node, group.Key.File, current, since, change.Timestamp));
                current = change.After;
                since = change.Timestamp;
            }
            if (current != TokenRights.None)
            {
                long end = nodeEnds.Where(e => e >= since).DefaultIfEmpty(long.MaxValue).Min();
                result.Add(new RightsInterval(group.Key.Node, group.Key.File, current, since, end));
            }
        }
        return result;
    }

    private static void CheckNodeRights(List<RightsInterval> intervals, List<string> problems)
    {
        foreach (var file in intervals.GroupBy(i => i.File))
        {
            var list = file.OrderBy(i => i.Begin).ToList();
            for (int i = 0; i < list.Count; i++)
            {
                for (int j = i + 1; j < list.Count && list[j].Begin < list[i].End; j++)
                {
                    var (a, b) = (list[i], list[j]);
                    if (a.Node != b.Node && TokenRules.Conflict(a.Rights, b.Rights))
                        problems.Add($"file {file.Key:x}: node {a.Node} held {a.Rights} over [{a.Begin}, {a.End}) while node {b.Node} held {b.Rights} from {b.Begin}");
                }
            }
        }
    }

    private void CheckDelegations(List<RightsInterval> intervals, List<string> problems)
    {
        foreach (var d in Delegations)
        {
            var need = d.Write ? TokenRights.WriteDelegation : TokenRights.ReadDelegation;
            if (!Covered(intervals, d.Node, d.File, need, d.Begin, d.End))
                problems.Add($"{(d.Write ? "write" : "read")} delegation of client {d.Client} on node {d.Node}, file {d.File:x}, over [{d.Begin}, {d.End}) is not inside the node's {need} right");
        }
        foreach (var file in Delegations.GroupBy(d => d.File))
        {
            var list = file.OrderBy(d => d.Begin).ToList();
            for (int i = 0; i < list.Count; i++)
            {
                for (int j = i + 1; j < list.Count && list[j].Begin < list[i].End; j++)
                {
                    var (a, b) = (list[i], list[j]);
                    if (a.Node != b.Node && (a.Write || b.Write))
                        problems.Add($"file {file.Key:x}: client {a.Client} on {a.Node} held a {(a.Write ? "write" : "read")} delegation over [{a.Begin}, {a.End}) while client {b.Client} on {b.Node} held a {(b.Write ? "write" : "read")} one from {b.Begin}");
                }
            }
        }
    }

    /// <summary>Whether the node held <paramref name="need"/> on the file throughout [begin, end], allowing back-to-back intervals.</summary>
    private static bool Covered(List<RightsInterval> intervals, string node, ulong file, TokenRights need, long begin, long end)
    {
        long at = begin;
        foreach (var i in intervals.Where(i => i.Node == node && i.File == file && (i.Rights & need) == need).OrderBy(i => i.Begin))
        {
            if (i.Begin > at)
                break;
            if (i.End > at)
                at = i.End;
            if (at >= end)
                return true;
        }
        return at >= end;
    }
}
