using System.Runtime.InteropServices;

namespace Leasehold.Export.Native;

/// <summary>
/// A Linux file descriptor that is closed exactly once. Returned straight from <see cref="LibC"/> calls, so an fd never
/// exists as a bare int that an early return could leak.
/// </summary>
/// <remarks>
/// The marshaller stores the call's return value as a pointer-sized handle, but open(2) and friends return a 32-bit
/// int: the upper half of the register is not part of the result (-1 arrives as 0xFFFFFFFF). So only the low 32 bits
/// are ever looked at.
/// <para>A borrowed SafeFd (<see cref="TryBorrow"/>) names another SafeFd's descriptor and holds a reference on it
/// (<see cref="SafeHandle.DangerousAddRef"/>) instead of owning a descriptor: disposing it gives that reference back
/// and never calls close(2). The lender's descriptor stays open while any borrow is alive, even if the lender itself is
/// disposed meanwhile (SafeHandle closes it when the last reference goes), so the borrow keeps the inode as a
/// descriptor of its own would. A borrow shares the lender's open file description: use it only where nothing changes
/// that description (offset, status flags, locks, leases); O_PATH descriptors have none of those.</para>
/// </remarks>
internal sealed class SafeFd : SafeHandle
{
    // The SafeFd whose descriptor this one borrows (see TryBorrow); null for a descriptor of its own.
    private readonly SafeFd? _lender;

    public SafeFd()
        : base(invalidHandleValue: -1, ownsHandle: true)
    {
    }

    private SafeFd(SafeFd lender)
        : base(invalidHandleValue: -1, ownsHandle: true)
    {
        _lender = lender;
        SetHandle(lender.DangerousGetHandle());
    }

    /// <summary>Whether this SafeFd borrows another's descriptor (see <see cref="TryBorrow"/>).</summary>
    public bool IsBorrowed => _lender is not null;

    /// <summary>
    /// A SafeFd for <paramref name="lender"/>'s descriptor that keeps it open until disposed, without a dup(2) or a
    /// close(2); null when the lender's descriptor is closed already (or invalid). A lender that was disposed while
    /// borrowed still lends until its last borrow goes: its descriptor is open, and still names the same file. The
    /// caller owns (disposes) the borrow.
    /// </summary>
    public static SafeFd? TryBorrow(SafeFd lender)
    {
        ArgumentNullException.ThrowIfNull(lender);
        bool added = false;
        try
        {
            lender.DangerousAddRef(ref added);
        }
        catch (ObjectDisposedException)
        {
            return null;
        }
        if (lender.IsInvalid)
        {
            lender.DangerousRelease();
            return null;
        }
        return new SafeFd(lender);
    }

    public override bool IsInvalid => Number < 0;

    /// <summary>The descriptor number, for "/proc/self/fd/N" paths. Valid only while this object is alive and open.</summary>
    public int Number => unchecked((int)(long)handle);

    /// <summary>The magic link that names this descriptor's file, whatever its path is now.</summary>
    public string ProcPath => "/proc/self/fd/" + Number.ToString(System.Globalization.CultureInfo.InvariantCulture);

    protected override bool ReleaseHandle()
    {
        if (_lender is null)
            return LibC.close(Number) == 0;
        _lender.DangerousRelease();
        return true;
    }
}
