namespace Leasehold.Engine;

/// <summary>
/// Names a file to the engine. The caller chooses the value (a device and inode pair, a cluster-wide
/// file id); the engine only compares keys and never interprets them.
/// </summary>
public readonly record struct FileKey(ulong High, ulong Low)
{
    /// <summary>A key from a single 64-bit id, such as an inode number on one filesystem.</summary>
    public static FileKey From(ulong id) => new(0, id);

    /// <summary>
    /// The id in decimal, as ls -i, stat(1) and the admin views print an inode number ("11668362"); a two-part key as
    /// "HIGH:LOW" with the high part in hex.
    /// </summary>
    public override string ToString() => High == 0 ? Low.ToString(System.Globalization.CultureInfo.InvariantCulture) : $"{High:x}:{Low}";
}
