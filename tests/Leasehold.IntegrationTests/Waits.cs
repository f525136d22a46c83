namespace Leasehold.IntegrationTests;

/// <summary>Every real-socket wait in these tests is bounded, so a hung server fails one test instead of hanging the run.</summary>
public static class Waits
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    public static Task<T> Bounded<T>(this Task<T> task) => task.WaitAsync(Timeout);

    public static Task Bounded(this Task task) => task.WaitAsync(Timeout);
}
