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
/// </remarks>
internal sealed class SafeFd : SafeHandle
{
    public SafeFd()
        : base(invalidHandleValue: -1, ownsHandle: true)
    {
    }

    public override bool IsInvalid => Number < 0;

    /// <summary>The descriptor number, for "/proc/self/fd/N" paths. Valid only while this object is alive and open.</summary>
    public int Number => unchecked((int)(long)handle);

    /// <summary>The magic link that names this descriptor's file, whatever its path is now.</summary>
    public string ProcPath => "/proc/self/fd/" + Number.ToString(System.Globalization.CultureInfo.InvariantCulture);

    protected override bool ReleaseHandle() => LibC.close(Number) == 0;
}
