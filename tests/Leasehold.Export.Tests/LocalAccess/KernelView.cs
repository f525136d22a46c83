using System.Globalization;

namespace Leasehold.Export.Tests.LocalAccess;

/// <summary>What the kernel shows about this process: its leases in /proc/locks and its threads' signal masks.</summary>
internal static class KernelView
{
    /// <summary>This process's LEASE (or DELEG) lines in /proc/locks for <paramref name="ino"/>: "ACTIVE READ", "BREAKING UNLCK", ...</summary>
    /// <remarks>
    /// /proc/locks is a seq_file read a page per read(2), each page starting from a line number: when a lock listed
    /// before that line goes away between two reads (other test processes take and drop leases all the time), the next
    /// page starts one line late and a line is never shown. So a pass that finds nothing is read again, up to three
    /// passes: a lease that is there shows in one of them (CI saw "ACTIVE WRITE" and "BREAKING UNLCK" missed once
    /// each), and one that is not there shows in none.
    /// </remarks>
    public static List<string> Leases(ulong ino)
    {
        List<string> found = [];
        for (int pass = 0; pass < 3 && found.Count == 0; pass++)
            found = LeasesOnePass(ino);
        return found;
    }

    private static List<string> LeasesOnePass(ulong ino)
    {
        var found = new List<string>();
        string pid = Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        foreach (string line in File.ReadAllLines("/proc/locks"))
        {
            // "12: LEASE  ACTIVE    READ  4242 08:01:1234567 0 EOF"; a waiting breaker's line has "->" after the id.
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 6 || f[1] == "->" || (f[1] != "LEASE" && f[1] != "DELEG"))
                continue;
            if (f[4] == pid && f[5].EndsWith(":" + ino.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal))
                found.Add($"{f[2]} {f[3]}");
        }
        return found;
    }

    /// <summary>A mask line ("SigBlk", "SigCgt") of /proc/self/task/TID/status (or the process's when tid is null), as a set of signal numbers.</summary>
    public static HashSet<int> Signals(string field, int? tid = null)
    {
        string path = tid is int t ? $"/proc/self/task/{t}/status" : "/proc/self/status";
        string hex = File.ReadAllLines(path).Single(l => l.StartsWith(field + ":", StringComparison.Ordinal))[(field.Length + 1)..].Trim();
        ulong mask = ulong.Parse(hex, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        var set = new HashSet<int>();
        for (int signal = 1; signal <= 64; signal++)
        {
            if ((mask & (1UL << (signal - 1))) != 0)
                set.Add(signal);
        }
        return set;
    }

    /// <summary>
    /// A thread's name (/proc/self/task/TID/comm) and one of its signal masks, or null when the thread exited meanwhile
    /// (thread-pool threads come and go while a test looks).
    /// </summary>
    public static (string Name, HashSet<int> Mask)? ThreadNameAndSignals(int tid, string field)
    {
        try
        {
            return (File.ReadAllText($"/proc/self/task/{tid}/comm").Trim(), Signals(field, tid));
        }
        catch (Exception e) when (e is IOException or InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>Every thread of this process (kernel tids).</summary>
    public static IEnumerable<int> Threads() =>
        Directory.EnumerateDirectories("/proc/self/task").Select(d => int.Parse(Path.GetFileName(d), CultureInfo.InvariantCulture));
}
