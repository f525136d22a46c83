namespace Leasehold.Testing;

public static class Completed
{
    /// <summary>The result of a ValueTask that must already have completed (a non-blocking engine call); throws if it has not.</summary>
    public static T Now<T>(this ValueTask<T> pending)
    {
        if (!pending.IsCompletedSuccessfully)
            throw new InvalidOperationException("Expected the call to complete synchronously.");
        return pending.Result;
    }
}
