using System.Globalization;
using Leasehold.Export.Native;

namespace Leasehold.Export.LocalAccess;

/// <summary>
/// Start-up detection of how local access to the export can be guarded (docs/local-access-design.md §4.6): kernel
/// delegations (F_SETDELEG with the conflict check, Linux 6.19), else kernel leases plus fanotify, else nothing, with
/// the reason. Runs on an unnamed O_TMPFILE file on the export's own filesystem, so it sees what guards there will see.
/// </summary>
internal static class LocalAccessProbe
{
    public const string LeasesEnablePath = "/proc/sys/fs/leases-enable";
    public const string LeaseBreakTimePath = "/proc/sys/fs/lease-break-time";

    /// <summary>What was found: a mechanism (with its fanotify group under LeasesAndFanotify), or None and why.</summary>
    public sealed record Outcome(LocalAccessMechanism Mechanism, string? Reason, SafeFd? Fanotify, string? Note);

    /// <param name="root">The export's root directory (O_RDONLY), where the probe file is made.</param>
    /// <param name="policy">Export:LocalAccess.</param>
    /// <param name="signal">The break signal; the probe's own leases are armed with it, owned by the calling thread.</param>
    public static Outcome Run(SafeFd root, LocalAccessPolicy policy, int signal)
    {
        if (policy == LocalAccessPolicy.Off)
            return None("Export:LocalAccess is Off");
        string? enabled = ReadProc(LeasesEnablePath);
        if (enabled is null)
            return None($"{LeasesEnablePath} cannot be read");
        if (enabled != "1")
            return None($"{LeasesEnablePath} is {enabled}: the kernel grants no leases");

        int tid = LibC.gettid();
        bool delegations = false;
        string? note = null;
        using (SafeFd writer = LibC.openat(root, ".", LibC.O_TMPFILE | LibC.O_RDWR | LibC.O_CLOEXEC, 0b110_000_000))
        {
            if (writer.IsInvalid)
            {
                // A read-only mount, or a filesystem without O_TMPFILE: the first Guard finds out what leases do here.
                note = $"not probed on the export's filesystem (O_TMPFILE errno {LibC.LastErrno})";
            }
            else
            {
                using SafeFd reader = LibC.openat(LibC.AT_FDCWD, writer.ProcPath, LibC.O_RDONLY | LibC.O_CLOEXEC | LibC.O_NONBLOCK, 0);
                if (reader.IsInvalid)
                    return None($"cannot reopen the probe file (errno {LibC.LastErrno})");
                if (policy == LocalAccessPolicy.Auto)
                    delegations = ProbeDelegations(reader, signal, tid, ref note);
                writer.Dispose(); // a read lease needs no writer open, our own included
                if (!delegations)
                {
                    int errno = KernelLeases.Arm(reader, LocalAccessMechanism.LeasesAndFanotify, signal, tid, LibC.F_RDLCK);
                    if (errno != 0)
                    {
                        return None(errno switch
                        {
                            Errno.EINVAL => "the export's filesystem refuses leases (F_SETLEASE EINVAL)",
                            Errno.EACCES or Errno.EPERM => "the server lacks CAP_LEASE (F_SETLEASE EACCES)",
                            _ => $"F_SETLEASE failed with errno {errno}",
                        });
                    }
                    KernelLeases.SetLock(reader, LocalAccessMechanism.LeasesAndFanotify, LibC.F_UNLCK);
                    return WithFanotify(reader, note);
                }
            }
        }
        if (delegations)
            return new Outcome(LocalAccessMechanism.Delegations, null, null, note);
        return WithFanotify(null, note);
    }

    /// <summary>
    /// F_SETDELEG F_RDLCK on the reader while the writer is still open: EINVAL means no F_SETDELEG (before 6.19); EAGAIN
    /// means it checks for conflicting opens, so it can be used; success means the check is missing (a read
    /// delegation over an open writer), so it is dropped and leases are used.
    /// </summary>
    private static unsafe bool ProbeDelegations(SafeFd reader, int signal, int tid, ref string? note)
    {
        var probe = new KernelDelegation();
        if (LibC.fcntl(reader, LibC.F_GETDELEG, &probe) != 0)
            return false; // EINVAL: this kernel has no F_GETDELEG/F_SETDELEG
        int errno = KernelLeases.Arm(reader, LocalAccessMechanism.Delegations, signal, tid, LibC.F_RDLCK);
        if (errno == Errno.EAGAIN)
            return true;
        if (errno == 0)
        {
            KernelLeases.SetLock(reader, LocalAccessMechanism.Delegations, LibC.F_UNLCK);
            note = "F_SETDELEG grants a read delegation over an open writer (no conflict check): using leases";
        }
        else
        {
            note = $"F_SETDELEG failed with errno {errno}: using leases";
        }
        return false;
    }

    private static unsafe Outcome WithFanotify(SafeFd? markable, string? note)
    {
        SafeFd fanotify = LibC.fanotify_init(
            LibC.FAN_CLASS_NOTIF | LibC.FAN_REPORT_FID | LibC.FAN_CLOEXEC | LibC.FAN_NONBLOCK | LibC.FAN_UNLIMITED_MARKS,
            (uint)(LibC.O_RDONLY | LibC.O_CLOEXEC));
        if (fanotify.IsInvalid)
        {
            int errno = LibC.LastErrno;
            fanotify.Dispose();
            return None($"fanotify_init failed with errno {errno}, so unlink, rename and attribute changes would go unseen");
        }
        if (markable is not null)
        {
            if (LibC.fanotify_mark(fanotify, LibC.FAN_MARK_ADD, KernelLeases.FanotifyMask, markable, null) != 0)
            {
                int errno = LibC.LastErrno;
                fanotify.Dispose();
                return None($"fanotify cannot mark files on the export's filesystem (errno {errno}), so unlink, rename and attribute changes would go unseen");
            }
            LibC.fanotify_mark(fanotify, LibC.FAN_MARK_REMOVE, KernelLeases.FanotifyMask, markable, null);
        }
        return new Outcome(LocalAccessMechanism.LeasesAndFanotify, null, fanotify, note);
    }

    private static Outcome None(string reason) => new(LocalAccessMechanism.None, reason, null, null);

    /// <summary>Half the RLIMIT_NOFILE soft limit, or <paramref name="configured"/> when it is set (not 0).</summary>
    public static int Limit(int configured)
    {
        if (configured > 0)
            return configured;
        if (LibC.getrlimit(LibC.RLIMIT_NOFILE, out RLimit limit) != 0)
            return 512;
        return (int)Math.Min(limit.Current / 2, int.MaxValue);
    }

    /// <summary>/proc/sys/fs/lease-break-time in seconds (the kernel reads it when a break starts), or -1.</summary>
    public static int LeaseBreakTime() =>
        int.TryParse(ReadProc(LeaseBreakTimePath), NumberStyles.Integer, CultureInfo.InvariantCulture, out int seconds) ? seconds : -1;

    private static string? ReadProc(string path)
    {
        try
        {
            return File.ReadAllText(path).Trim();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
