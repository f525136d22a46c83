using System.Globalization;
using Leasehold.Engine;
using Leasehold.Export.LocalAccess;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Leasehold.Nfs4.State;

/// <summary>
/// Turns the export's reports of local access into engine breaks: every delegation on the file is recalled, the local
/// process being an anonymous breaker (<see cref="Owner.Anonymous"/>) that owns none of them.
/// </summary>
/// <remarks>
/// <para><b>Kernel-held breaks</b> (<see cref="LocalAccessKind.OpenRead"/>, <see cref="LocalAccessKind.OpenWrite"/>): the
/// local process waits in the kernel, which lets it in by itself when /proc/sys/fs/lease-break-time runs out. So the
/// break is bounded (<see cref="LeaseEngine.BreakAsync(FileKey, FileOperation, Owner, BreakMode, TimeSpan, CancellationToken)"/>)
/// by that time less a margin of min(1 s, half of it), read again at each break as the kernel does: the engine revokes
/// the delegation, and releases the kernel lease, before the kernel gives up on it, so a local process never gets in
/// while a client still caches under a delegation. A local process waits at most min(the engine's delegation break time
/// (the NFS lease time), lease-break-time less the margin).</para>
/// <para><b>After-the-fact reports</b> (data or attributes changed, renamed, gone, events lost): nobody waits, so the
/// holder gets the full delegation break time, as for an NFS breaker.</para>
/// <para>Called on the export's watcher thread, which never waits: a kernel-held break parks in the engine (Await mode,
/// so `leasehold locks` counts the local process among the waiting breakers) without being awaited here; an
/// after-the-fact one is NonBlocking. A guard released inside the call is released from the thread pool
/// (<see cref="KernelLeaseAuthority"/>).</para>
/// </remarks>
public sealed class EngineLocalAccessSink : ILocalAccessSink
{
    /// <summary>Where Linux keeps the time a lease breaker waits before the kernel removes the lease (seconds).</summary>
    public const string LeaseBreakTimePath = "/proc/sys/fs/lease-break-time";

    /// <summary>The kernel's default lease-break-time (45 s), used when <see cref="LeaseBreakTimePath"/> cannot be read.</summary>
    public static readonly TimeSpan DefaultKernelBreakTime = TimeSpan.FromSeconds(45);

    private readonly LeaseEngine _engine;
    private readonly KernelLeaseAuthority _authority;
    private readonly Func<TimeSpan> _kernelBreakTime;
    private readonly ILogger _logger;

    /// <param name="engine">The engine that holds the delegations.</param>
    /// <param name="authority">The authority that guards them (told of every local access first).</param>
    /// <param name="kernelBreakTime">The kernel's lease-break-time; null reads <see cref="LeaseBreakTimePath"/> at each break.</param>
    /// <param name="logger">For the 4130 Information line of each local access that recalls.</param>
    public EngineLocalAccessSink(LeaseEngine engine, KernelLeaseAuthority authority, Func<TimeSpan>? kernelBreakTime = null, ILogger? logger = null)
    {
        _engine = engine;
        _authority = authority;
        _kernelBreakTime = kernelBreakTime ?? ReadKernelBreakTime;
        _logger = logger ?? NullLogger.Instance;
    }

    public void OnLocalAccess(ulong fileId, LocalAccessKind access)
    {
        bool wasInSink = KernelLeaseAuthority.EnterSink();
        try
        {
            _authority.NoteLocalAccess(fileId); // before the break: a grant recorded after it is handed back, not kept
            var op = Operation(access);
            bool held = access is LocalAccessKind.OpenRead or LocalAccessKind.OpenWrite;
            TimeSpan? bound = held ? MaxLocalWait(_kernelBreakTime()) : null;
            // A process the kernel holds is a waiting breaker, and parks as one (BreakMode.Await, never awaited here): the
            // engine counts it (`leasehold locks` WAITING) and keeps conflicting grants out until it is let in. After the
            // fact nobody waits: NonBlocking.
            var mode = held ? BreakMode.Await : BreakMode.NonBlocking;
            var file = FileKey.From(fileId);
            var pending = bound is { } max
                ? _engine.BreakAsync(file, op, Owner.Anonymous, mode, max)
                : _engine.BreakAsync(file, op, Owner.Anonymous, mode);
            bool recalls;
            if (pending.IsCompleted)
            {
                recalls = pending.Result.Status == BreakStatus.WouldBlock;
            }
            else
            {
                recalls = true;
                _ = WhenLetInAsync(pending.AsTask());
            }
            if (recalls)
            {
                Log.LocalAccessRecalls(_logger, access, fileId,
                    bound is { } b ? $"the local process waits at most {b.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)} s"
                    : held ? "the local process waits until they are returned or revoked: lease-break-time is 0"
                    : "after the fact: nobody waits");
            }
        }
        catch (ObjectDisposedException)
        {
            // The server is stopping: the engine has dropped every grant, and with them every guard.
        }
        finally
        {
            KernelLeaseAuthority.ExitSink(wasInSink);
        }
    }

    /// <summary>The parked break of a process the kernel holds: it ends when the delegations are gone, or with the engine.</summary>
    private static async Task WhenLetInAsync(Task<BreakResult> parked)
    {
        try
        {
            await parked.ConfigureAwait(false);
        }
        catch (ObjectDisposedException)
        {
            // the server stopped meanwhile: the engine dropped every grant
        }
    }

    /// <summary>The engine operation a local access stands for: everything but a local read recalls every delegation.</summary>
    public static FileOperation Operation(LocalAccessKind access) => access switch
    {
        LocalAccessKind.OpenRead => FileOperation.OpenRead,
        LocalAccessKind.AttributesChanged => FileOperation.SetAttributes,
        LocalAccessKind.Moved => FileOperation.Rename,
        LocalAccessKind.Gone => FileOperation.Unlink,
        _ => FileOperation.OpenWrite, // OpenWrite, Modified, Unknown
    };

    /// <summary>
    /// The longest the engine may take to release a delegation a local process waits for in the kernel:
    /// <paramref name="kernelBreakTime"/> less min(1 s, half of it). Null when lease-break-time is 0: the kernel then
    /// never lets the waiter in by itself (fs/locks.c: a zero fl_break_time is never past), so the engine's own
    /// deadline is the only bound.
    /// </summary>
    public static TimeSpan? MaxLocalWait(TimeSpan kernelBreakTime)
    {
        if (kernelBreakTime <= TimeSpan.Zero)
            return null;
        var margin = TimeSpan.FromTicks(Math.Min(TimeSpan.TicksPerSecond, kernelBreakTime.Ticks / 2));
        return TimeSpan.FromTicks(Math.Min(kernelBreakTime.Ticks - margin.Ticks, TimeSpan.TicksPerDay));
    }

    /// <summary>/proc/sys/fs/lease-break-time, or 45 s (the kernel default) if it cannot be read.</summary>
    public static TimeSpan ReadKernelBreakTime()
    {
        try
        {
            return int.TryParse(File.ReadAllText(LeaseBreakTimePath).Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out int seconds)
                ? TimeSpan.FromSeconds(Math.Max(0, seconds))
                : DefaultKernelBreakTime;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return DefaultKernelBreakTime;
        }
    }
}
