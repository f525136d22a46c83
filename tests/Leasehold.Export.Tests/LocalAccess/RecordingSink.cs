using System.Diagnostics;
using Leasehold.Export.LocalAccess;

namespace Leasehold.Export.Tests.LocalAccess;

/// <summary>A sink that records every report with the Stopwatch time it arrived, and lets a test wait for one.</summary>
internal sealed class RecordingSink : ILocalAccessSink
{
    private readonly Lock _lock = new();
    private readonly List<(ulong FileId, LocalAccessKind Access, long At)> _calls = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public IReadOnlyList<(ulong FileId, LocalAccessKind Access, long At)> Calls
    {
        get
        {
            lock (_lock)
                return [.. _calls];
        }
    }

    /// <summary>The threads the sink was called on (managed thread ids).</summary>
    public HashSet<int> Threads { get; } = [];

    public void OnLocalAccess(ulong fileId, LocalAccessKind access)
    {
        long at = Stopwatch.GetTimestamp();
        lock (_lock)
        {
            _calls.Add((fileId, access, at));
            Threads.Add(Environment.CurrentManagedThreadId);
            Interlocked.Exchange(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        }
    }

    public void Clear()
    {
        lock (_lock)
            _calls.Clear();
    }

    /// <summary>Waits until a report matches; returns it, or fails the test after <paramref name="timeout"/>.</summary>
    public async Task<(ulong FileId, LocalAccessKind Access, long At)> WaitForAsync(ulong fileId, LocalAccessKind access, TimeSpan? timeout = null)
    {
        long start = Stopwatch.GetTimestamp();
        TimeSpan limit = timeout ?? TimeSpan.FromSeconds(10);
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                foreach (var call in _calls)
                {
                    if (call.FileId == fileId && call.Access == access)
                        return call;
                }
                changed = _changed.Task;
            }
            TimeSpan left = limit - Stopwatch.GetElapsedTime(start);
            if (left <= TimeSpan.Zero)
                Assert.Fail($"No {access} report for inode {fileId} within {limit}; got: {string.Join(", ", Calls.Select(c => $"{c.FileId}:{c.Access}"))}.");
            await Task.WhenAny(changed, Task.Delay(left));
        }
    }
}
