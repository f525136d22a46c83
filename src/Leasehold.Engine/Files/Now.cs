namespace Leasehold.Engine;

/// <summary>
/// "Now", read from the <see cref="TimeProvider"/> at most once per critical section and only if a decision
/// needs it. Reading the clock costs ~50 ns on some virtual machines, more than the rest of an uncontended
/// grant; most calls (a grant on a quiet file, a release) never need the time at all.
/// </summary>
internal struct Now(TimeProvider time)
{
    private long _value;

    public long Value
    {
        get
        {
            if (_value == 0)
                _value = time.GetTimestamp();
            return _value;
        }
    }
}
