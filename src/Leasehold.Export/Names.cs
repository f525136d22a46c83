namespace Leasehold.Export;

/// <summary>
/// What a single directory entry name may be: one path component, never one that walks (".", ".."). Names are byte
/// strings (<see cref="FileName"/>): any bytes but "/" and NUL, in any charset, as Linux filesystems store them.
/// </summary>
internal static class Names
{
    /// <summary>NAME_MAX: the longest name Linux filesystems store, in bytes.</summary>
    public const int MaxNameBytes = 255;

    /// <summary>PATH_MAX less the NUL: the longest symlink target symlink(2) stores and readlink(2) returns whole.</summary>
    public const int MaxSymlinkTargetBytes = 4095;

    public static FsStatus Check(in FileName name)
    {
        ReadOnlySpan<byte> bytes = name.Bytes;
        if (bytes.IsEmpty || bytes.SequenceEqual("."u8) || bytes.SequenceEqual(".."u8))
            return FsStatus.InvalidName;
        if (bytes.IndexOfAny((byte)'/', (byte)0) >= 0)
            return FsStatus.InvalidName;
        return bytes.Length > MaxNameBytes ? FsStatus.NameTooLong : FsStatus.Ok;
    }

    /// <summary>A symlink target is stored, never followed here: any bytes but NUL, 1 to <see cref="MaxSymlinkTargetBytes"/> of them.</summary>
    public static FsStatus CheckSymlinkTarget(ReadOnlySpan<byte> target)
    {
        if (target.IsEmpty || target.Contains((byte)0))
            return FsStatus.Invalid;
        return target.Length > MaxSymlinkTargetBytes ? FsStatus.NameTooLong : FsStatus.Ok;
    }
}
