namespace Leasehold.Host.Serving;

/// <summary>
/// Where the runtime runs the code that follows a socket read: by default Leasehold asks for it to run inline, on the
/// runtime's socket event threads (one per core), instead of being queued to the thread pool.
/// </summary>
/// <remarks>
/// <para>A request then costs one thread wake-up on the server instead of two (the event thread, then a pool worker):
/// measured with the load generator on 2 cores, 8–10 % more metadata and 4 KiB READ operations per second and less CPU
/// per COMPOUND (docs/loadgen.md). The price is that a call which blocks holds up the other connections of its event
/// thread, so operations that may wait on the disk (COMMIT, stable or large WRITEs, large READs, READDIR) move to the
/// thread pool before they run (<c>INfsOp.MayWaitOnDisk</c>), and nothing in the server waits synchronously on another
/// call (recalls and callbacks are awaited).</para>
/// <para>The runtime reads the switch once, when the first socket is made, and only from the environment
/// (<c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS</c>); set it to 0 to go back to the thread pool, and
/// <c>DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT</c> to change the number of event threads.</para>
/// </remarks>
internal static class SocketScheduling
{
    public const string InlineCompletionsVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>Asks for inline completions unless the environment already says; call before any socket exists.</summary>
    public static void PreferInlineCompletions()
    {
        if (Environment.GetEnvironmentVariable(InlineCompletionsVariable) is null)
            Environment.SetEnvironmentVariable(InlineCompletionsVariable, "1");
    }

    /// <summary>Whether completions run inline in this process (what the runtime read, or will read).</summary>
    public static bool InlineCompletions => Environment.GetEnvironmentVariable(InlineCompletionsVariable) == "1";
}
