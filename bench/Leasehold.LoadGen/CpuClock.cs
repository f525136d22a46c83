using System.Diagnostics;
using System.Globalization;

namespace Leasehold.LoadGen;

/// <summary>
/// CPU time (user + system) used so far by this process and, when <c>--server-pid</c> names it, by the server's
/// (from <c>/proc/PID/stat</c>, in clock ticks of 10 ms): to show who had the cores during a measured stretch.
/// </summary>
internal sealed class CpuClock(int? serverPid)
{
    private const double TickSeconds = 0.01; // USER_HZ is 100 on Linux

    public (TimeSpan Self, TimeSpan? Server) Now() => (Process.GetCurrentProcess().TotalProcessorTime, ServerCpu());

    /// <summary>"loadgen X ms CPU, server Y ms CPU" for the stretch since <paramref name="start"/>.</summary>
    public string Since((TimeSpan Self, TimeSpan? Server) start)
    {
        var (self, server) = Now();
        string text = string.Create(CultureInfo.InvariantCulture, $"loadgen {(self - start.Self).TotalMilliseconds:0} ms CPU");
        if (server is { } s && start.Server is { } s0)
            text += string.Create(CultureInfo.InvariantCulture, $", server {(s - s0).TotalMilliseconds:0} ms CPU");
        return text;
    }

    private TimeSpan? ServerCpu()
    {
        if (serverPid is not { } pid)
            return null;
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            // Fields after the command (which may hold spaces) in parentheses: state is field 3, utime 14, stime 15.
            string[] f = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            long ticks = long.Parse(f[11], CultureInfo.InvariantCulture) + long.Parse(f[12], CultureInfo.InvariantCulture);
            return TimeSpan.FromSeconds(ticks * TickSeconds);
        }
        catch (IOException)
        {
            return null;
        }
    }
}
