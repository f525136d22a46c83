namespace Leasehold.Nfs4.Client;

/// <summary>
/// The fore channel's slot table (RFC 8881 §2.10.6.1): a request holds one slot from send to reply, and each slot
/// carries the sequence id of the next request on it. Invariant: a slot is either in <c>_free</c> or held by exactly
/// one caller, or retired; the semaphore counts the free ones. <c>_lock</c> guards <c>_free</c> and <c>_sequence</c>.
/// </summary>
internal sealed class SlotTable(int size) : IDisposable
{
    private readonly Lock _lock = new();
    private readonly Stack<uint> _free = new(Enumerable.Range(0, size).Select(i => (uint)(size - 1 - i)));
    private readonly uint[] _sequence = Enumerable.Repeat(1u, size).ToArray(); // §2.10.6.1: a new slot's first seqid is 1
    private readonly SemaphoreSlim _available = new(size, size);
    private int _retired;

    public int Size { get; } = size;

    /// <summary>Slots retired after a call whose outcome is unknown (see <see cref="Retire"/>).</summary>
    public int Retired => Volatile.Read(ref _retired);

    /// <summary>The highest slot id this client may use: what SEQUENCE reports as sa_highest_slotid.</summary>
    public uint HighestSlotId => (uint)(Size - 1);

    public async ValueTask<(uint Slot, uint SequenceId)> AcquireAsync(CancellationToken cancellationToken)
    {
        await _available.WaitAsync(cancellationToken).ConfigureAwait(false);
        lock (_lock)
        {
            uint slot = _free.Pop();
            return (slot, _sequence[slot]);
        }
    }

    /// <summary>Gives a slot back. <paramref name="advanced"/>: the server processed the SEQUENCE, so the next seqid is one more.</summary>
    public void Release(uint slot, bool advanced)
    {
        lock (_lock)
        {
            if (advanced)
                _sequence[slot]++;
            _free.Push(slot);
        }
        _available.Release();
    }

    /// <summary>
    /// Takes a slot out of use after a call that got no reply (timeout, cancellation, broken connection): the server
    /// may or may not have seen it, so neither seqid is safe. Recovering the slot would take a probe; a test or
    /// benchmark session simply carries on with the rest.
    /// </summary>
    public void Retire(uint slot) => Interlocked.Increment(ref _retired);

    public void Dispose() => _available.Dispose();
}
