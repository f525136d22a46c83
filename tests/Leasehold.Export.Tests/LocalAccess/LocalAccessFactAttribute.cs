namespace Leasehold.Export.Tests.LocalAccess;

/// <summary>A test that needs the export to guard local access: root, and kernel leases on. Skipped with the reason otherwise.</summary>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class LocalAccessFactAttribute : FactAttribute
{
    public LocalAccessFactAttribute()
    {
        if (LocalAccessSupport.Unavailable is { } reason)
            Skip = reason;
    }
}

/// <summary>The theory form of <see cref="LocalAccessFactAttribute"/>.</summary>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class LocalAccessTheoryAttribute : TheoryAttribute
{
    public LocalAccessTheoryAttribute()
    {
        if (LocalAccessSupport.Unavailable is { } reason)
            Skip = reason;
    }
}

internal static class LocalAccessSupport
{
    private static readonly Lazy<string?> s_unavailable = new(Probe);

    public static string? Unavailable => s_unavailable.Value;

    private static string? Probe()
    {
        if (!OperatingSystem.IsLinux())
            return "Local access guards are Linux kernel leases.";
        if (Environment.UserName != "root")
            return "Local access tests need root (open_by_handle_at, fanotify, leases on files of any owner).";
        try
        {
            string enabled = File.ReadAllText("/proc/sys/fs/leases-enable").Trim();
            return enabled == "1" ? null : $"/proc/sys/fs/leases-enable is {enabled}: the kernel grants no leases.";
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return $"Cannot read /proc/sys/fs/leases-enable: {ex.Message}";
        }
    }
}
