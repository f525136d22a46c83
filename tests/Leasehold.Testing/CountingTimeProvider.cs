namespace Leasehold.Testing;

/// <summary>
/// Wraps another <see cref="TimeProvider"/> (usually <see cref="TimeProvider.System"/>) and counts the timers made
/// through it, so a test can see a timer the code under test forgot to dispose. Time itself is the inner provider's.
/// </summary>
/// <remarks>
/// A timer counts as live from <see cref="CreateTimer"/> until its first <see cref="ITimer.Dispose"/>; disposing it
/// again does not count twice. <see cref="ChangesAfterDispose"/> counts calls to <see cref="ITimer.Change"/> on a
/// timer already disposed, which is harmless to the runtime but means the caller lost track of its timer.
/// </remarks>
public sealed class CountingTimeProvider(TimeProvider inner) : TimeProvider
{
    private long _created;
    private long _disposed;
    private long _changesAfterDispose;

    public CountingTimeProvider() : this(System)
    {
    }

    public TimeProvider Inner { get; } = inner;

    public long TimersCreated => Interlocked.Read(ref _created);

    public long TimersDisposed => Interlocked.Read(ref _disposed);

    /// <summary>Timers created and not yet disposed. Reads the disposals first so a racing pair never shows as negative.</summary>
    public long LiveTimers
    {
        get
        {
            long disposed = Interlocked.Read(ref _disposed);
            return Interlocked.Read(ref _created) - disposed;
        }
    }

    public long ChangesAfterDispose => Interlocked.Read(ref _changesAfterDispose);

    public override DateTimeOffset GetUtcNow() => Inner.GetUtcNow();

    public override long GetTimestamp() => Inner.GetTimestamp();

    public override long TimestampFrequency => Inner.TimestampFrequency;

    public override TimeZoneInfo LocalTimeZone => Inner.LocalTimeZone;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        // Counted before the inner timer exists: a due time of zero may fire the callback before CreateTimer returns.
        Interlocked.Increment(ref _created);
        return new CountedTimer(this, Inner.CreateTimer(callback, state, dueTime, period));
    }

    private sealed class CountedTimer(CountingTimeProvider owner, ITimer inner) : ITimer
    {
        private int _disposed;

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            if (Volatile.Read(ref _disposed) != 0)
                Interlocked.Increment(ref owner._changesAfterDispose);
            return inner.Change(dueTime, period);
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
                Interlocked.Increment(ref owner._disposed);
            inner.Dispose();
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
