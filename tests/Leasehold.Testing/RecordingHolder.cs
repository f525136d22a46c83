using System.Collections.Concurrent;
using Leasehold.Engine;

namespace Leasehold.Testing;

/// <summary>What a holder heard from the engine.</summary>
public sealed record HolderEvent(Grant Grant, BreakTarget Target, bool Expired, DateTimeOffset Deadline);

/// <summary>
/// A grant holder that records every notice and can answer breaks by itself. Notices arrive on the thread pool,
/// so tests wait for them with <see cref="WaitForAsync"/> (bounded by a real-time timeout) instead of sleeping.
/// </summary>
public sealed class RecordingHolder(string name = "holder") : IGrantHolder
{
    private readonly ConcurrentQueue<HolderEvent> _events = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public string Name { get; } = name;

    /// <summary>Runs inside <see cref="OnBreak"/>, on the notice thread: answer the break here to test re-entrancy.</summary>
    public Action<Grant, BreakTarget>? OnBreakAction { get; set; }

    public IReadOnlyList<HolderEvent> Events => [.. _events];

    public IReadOnlyList<HolderEvent> Breaks => [.. _events.Where(e => !e.Expired)];

    public IReadOnlyList<HolderEvent> Expirations => [.. _events.Where(e => e.Expired)];

    public void OnBreak(Grant grant, BreakTarget target, DateTimeOffset deadline)
    {
        OnBreakAction?.Invoke(grant, target);
        _events.Enqueue(new HolderEvent(grant, target, false, deadline));
        Signal();
    }

    public void OnBreakExpired(Grant grant, BreakTarget applied)
    {
        _events.Enqueue(new HolderEvent(grant, applied, true, default));
        Signal();
    }

    private void Signal() => Interlocked.Exchange(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    /// <summary>Waits until at least <paramref name="count"/> events have arrived in all.</summary>
    public async Task<IReadOnlyList<HolderEvent>> WaitForAsync(int count, TimeSpan? timeout = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(10);
        var giveUp = DateTime.UtcNow + limit; // a real-time bound on a real thread-pool hop, not the engine's clock
        while (true)
        {
            var changed = Volatile.Read(ref _changed).Task;
            if (_events.Count >= count)
                break;
            var left = giveUp - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
                throw new TimeoutException($"{Name}: expected {count} notices within {limit}, got {_events.Count}.");
            try
            {
                await changed.WaitAsync(left);
            }
            catch (TimeoutException)
            {
            }
        }
        return Events;
    }

    public override string ToString() => Name;
}
