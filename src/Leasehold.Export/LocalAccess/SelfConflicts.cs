namespace Leasehold.Export.LocalAccess;

/// <summary>
/// Which of the export's own changes would break its own guard on the file (the kernel has no owner exemption for
/// userspace leases and delegations, docs/local-access-design.md §1.3, §1.6), and so must run inside a suspension.
/// </summary>
/// <remarks>
/// Suspending is right because the change gate already said Proceed: every live grant on the file belongs to the
/// changer's own group, and so does the kernel lease. Under a write guard, WRITE and a size change go through the guard's
/// own O_RDWR descriptor instead, which breaks nothing under a lease.
/// </remarks>
internal static class SelfConflicts
{
    /// <summary>True when <paramref name="kind"/>, made by the export on a file guarded in <paramref name="mode"/>, must run suspended.</summary>
    public static bool Breaks(LocalAccessMechanism mechanism, ChangeKind kind, GuardMode mode) => (mechanism, kind, mode) switch
    {
        (LocalAccessMechanism.None, _, _) => false,
        // A write descriptor of our own beside a read lease breaks it; a write guard's O_RDWR descriptor serves these.
        (_, ChangeKind.Write or ChangeKind.SpaceChange, GuardMode.Read) => true,
        (LocalAccessMechanism.LeasesAndFanotify, ChangeKind.Truncate, GuardMode.Read) => true,
        // A kernel delegation is broken by notify_change (truncate, chmod, chown, utimes) even through its own
        // descriptor, and by unlink, rename and link (try_break_deleg).
        // setxattr and removexattr break it too (try_break_deleg in __vfs_setxattr_locked, __vfs_removexattr_locked).
        (LocalAccessMechanism.Delegations, ChangeKind.Truncate or ChangeKind.SetAttributes or ChangeKind.Link or ChangeKind.Unlink or ChangeKind.Rename
            or ChangeKind.ExtendedAttributes, _) => true,
        _ => false,
    };
}
