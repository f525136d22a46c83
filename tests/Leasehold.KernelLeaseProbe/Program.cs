using System.Globalization;
using System.Runtime.InteropServices;

namespace Leasehold.KernelLeaseProbe;

/// <summary>
/// A child process that holds and breaks real Linux file leases on behalf of a test, one command per line.
/// </summary>
/// <remarks>
/// <para><b>Protocol.</b> Each command line gets exactly one reply line, in order: <c>ok [VALUE]</c> or
/// <c>err ERRNO NAME</c>. Lines starting with <c>event</c> can arrive at any time between replies:
/// <c>event sigio</c> when the kernel signals a lease break (one per signal the process receives; standard
/// signals do not queue, so two breaks close together may show as one), and <c>event done TAG REPLY</c> when an
/// <c>async</c> command finishes. The probe starts by printing <c>ready PID</c>, once the SIGIO handler is in place.</para>
/// <code>
///   open PATH r|w|rw|rtrunc [nonblock]  ok FD  (O_NONBLOCK makes a conflicting open fail with EAGAIN instead of waiting;
///                                              rtrunc is O_RDONLY|O_TRUNC, which truncates without breaking a read lease)
///   timedopen PATH r|w|rw         ok FD T0 T1  (T0, T1: Stopwatch timestamps, CLOCK_MONOTONIC ns, right before and after open)
///   read FD COUNT                 ok TEXT      (pread at offset 0; the bytes as UTF-8, '-' when empty)
///   write FD TEXT                 ok COUNT     (pwrite at offset 0, through a descriptor opened earlier)
///   chmod PATH OCTAL              ok
///   utimes PATH                   ok           (utimensat to now)
///   link FROM TO                  ok
///   close FD                      ok
///   setlease FD rd|wr|un          ok           (fcntl F_SETLEASE)
///   getlease FD                   ok rd|wr|un  (fcntl F_GETLEASE: during a break, the type the holder must go to)
///   truncate PATH LENGTH          ok
///   ftruncate FD LENGTH           ok
///   unlink PATH                   ok
///   rename FROM TO                ok
///   async TAG COMMAND...          ok           (runs COMMAND on its own thread, then: event done TAG REPLY)
///   exit                                       (no reply)
/// </code>
/// <para>Blocking calls (an open or truncate that waits for a lease break) must go through <c>async</c>, so the probe
/// keeps answering while one is parked in the kernel.</para>
/// </remarks>
internal static class Program
{
    private static readonly Lock OutputLock = new();

    public static int Main()
    {
        // SIGIO's default action ends the process. The kernel sends it to the lease holder (fcntl_setlease sets the
        // file's owner to the caller) when a break starts, so the probe must catch it and say so.
        using var sigio = PosixSignalRegistration.Create((PosixSignal)Libc.SIGIO, context =>
        {
            context.Cancel = true; // otherwise the runtime restores the default action and re-raises it
            Emit("event sigio");
        });

        Emit($"ready {Environment.ProcessId}");
        while (Console.In.ReadLine() is { } line)
        {
            if (line.Trim() == "exit")
                return 0;
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length >= 3 && parts[0] == "async")
            {
                string tag = parts[1];
                string[] command = parts[2..];
                var worker = new Thread(() => Emit($"event done {tag} {Execute(command)}")) { IsBackground = true, Name = $"async {tag}" };
                worker.Start();
                Emit("ok");
                continue;
            }
            Emit(Execute(parts));
        }
        return 0;
    }

    private static void Emit(string line)
    {
        lock (OutputLock)
        {
            Console.Out.Write(line + "\n");
            Console.Out.Flush();
        }
    }

    private static string Execute(string[] p)
    {
        try
        {
            return p switch
            {
                ["open", var path, var mode] => Check(Libc.Open(path, OpenFlags(mode, nonblock: false))),
                ["open", var path, var mode, "nonblock"] => Check(Libc.Open(path, OpenFlags(mode, nonblock: true))),
                ["timedopen", var path, var mode] => TimedOpen(path, OpenFlags(mode, nonblock: false)),
                ["read", var fd, var count] => Read(Int(fd), Int(count)),
                ["write", var fd, var text] => Write(Int(fd), text),
                ["chmod", var path, var mode] => CheckOk(Libc.Chmod(path, Convert.ToUInt32(mode, 8))),
                ["utimes", var path] => CheckOk(Libc.UtimensNow(path)),
                ["link", var from, var to] => CheckOk(Libc.Link(from, to)),
                ["close", var fd] => CheckOk(Libc.Close(Int(fd))),
                ["setlease", var fd, var type] => CheckOk(Libc.Fcntl(Int(fd), Libc.F_SETLEASE, LeaseType(type))),
                ["getlease", var fd] => GetLease(Int(fd)),
                ["truncate", var path, var length] => CheckOk(Libc.Truncate(path, long.Parse(length, CultureInfo.InvariantCulture))),
                ["ftruncate", var fd, var length] => CheckOk(Libc.Ftruncate(Int(fd), long.Parse(length, CultureInfo.InvariantCulture))),
                ["unlink", var path] => CheckOk(Libc.Unlink(path)),
                ["rename", var from, var to] => CheckOk(Libc.Rename(from, to)),
                _ => "err 22 EINVAL unknown-command",
            };
        }
        catch (FormatException)
        {
            // A malformed command is the test's bug; answer it rather than die, so the test sees what it sent.
            return "err 22 EINVAL bad-argument";
        }
    }

    private static int Int(string s) => int.Parse(s, CultureInfo.InvariantCulture);

    private static int OpenFlags(string mode, bool nonblock)
    {
        int flags = mode switch
        {
            "r" => Libc.O_RDONLY,
            "w" => Libc.O_WRONLY,
            "rw" => Libc.O_RDWR,
            "rtrunc" => Libc.O_RDONLY | Libc.O_TRUNC,
            _ => throw new FormatException($"open mode {mode}"),
        };
        return flags | Libc.O_CLOEXEC | (nonblock ? Libc.O_NONBLOCK : 0);
    }

    private static int LeaseType(string type) => type switch
    {
        "rd" => Libc.F_RDLCK,
        "wr" => Libc.F_WRLCK,
        "un" => Libc.F_UNLCK,
        _ => throw new FormatException($"lease type {type}"),
    };

    private static string GetLease(int fd)
    {
        int type = Libc.Fcntl(fd, Libc.F_GETLEASE, 0);
        if (type < 0)
            return Error();
        return type switch
        {
            Libc.F_RDLCK => "ok rd",
            Libc.F_WRLCK => "ok wr",
            Libc.F_UNLCK => "ok un",
            _ => $"ok {type}",
        };
    }

    private static string TimedOpen(string path, int flags)
    {
        long before = System.Diagnostics.Stopwatch.GetTimestamp();
        int fd = Libc.Open(path, flags);
        long after = System.Diagnostics.Stopwatch.GetTimestamp();
        return fd < 0 ? Error() : string.Create(CultureInfo.InvariantCulture, $"ok {fd} {before} {after}");
    }

    private static unsafe string Read(int fd, int count)
    {
        byte[] buffer = new byte[count];
        nint read;
        fixed (byte* start = buffer)
            read = Libc.Pread(fd, start, (nuint)count, 0);
        if (read < 0)
            return Error();
        return read == 0 ? "ok -" : "ok " + System.Text.Encoding.UTF8.GetString(buffer, 0, (int)read);
    }

    private static unsafe string Write(int fd, string text)
    {
        byte[] bytes = System.Text.Encoding.UTF8.GetBytes(text);
        nint written;
        fixed (byte* start = bytes)
            written = Libc.Pwrite(fd, start, (nuint)bytes.Length, 0);
        return written < 0 ? Error() : string.Create(CultureInfo.InvariantCulture, $"ok {written}");
    }

    private static string Check(int result) => result < 0 ? Error() : $"ok {result}";

    private static string CheckOk(int result) => result < 0 ? Error() : "ok";

    private static string Error()
    {
        int errno = Marshal.GetLastPInvokeError();
        return $"err {errno} {Libc.ErrnoName(errno)}";
    }
}
