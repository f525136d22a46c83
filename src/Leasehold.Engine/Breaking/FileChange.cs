namespace Leasehold.Engine;

/// <summary>
/// A change to a file that the caller is making (truncate, unlink, rename, setattr...), begun with
/// <see cref="LeaseEngine.BeginChangeAsync"/>. While it is held the file admits no grant the change conflicts with, so
/// nothing can be granted between "the conflicting grants are gone" and "the change is done". Dispose it when the
/// change is done (or failed). Holding one costs a small allocation; a default instance holds nothing.
/// </summary>
public readonly struct FileChange : IDisposable
{
    private readonly BreakWaiter? _guard;

    internal FileChange(BreakResult result, BreakWaiter? guard)
    {
        Result = result;
        _guard = guard;
    }

    /// <summary>Proceed when the change may go ahead (and the file is held); WouldBlock or LayoutBusy otherwise (nothing is held).</summary>
    public BreakResult Result { get; }

    public bool CanProceed => Result.CanProceed;

    /// <summary>Ends the change. Safe to call more than once and after the engine is disposed.</summary>
    public void Dispose()
    {
        if (_guard is not null)
            _guard.File.Engine.EndChange(_guard);
    }
}
