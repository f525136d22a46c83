using System.Threading.Channels;

namespace Leasehold.Nfs4.Callbacks;

/// <summary>
/// One slot of a back channel (RFC 8881 §2.10.6.1 applies to both channels). Owned by one CB_COMPOUND at a time,
/// between <see cref="CallbackSlotTable.AcquireAsync"/> and <see cref="CallbackSlotTable.Release"/>, so it needs no lock.
/// </summary>
internal sealed class CallbackSlot(int id)
{
    public int Id { get; } = id;

    /// <summary>The last csa_sequenceid the client is known to have executed; 0 for a new slot, so the first call carries 1.</summary>
    public uint SeqId { get; set; }

    /// <summary>
    /// The last call on this slot got no reply (timeout or lost connection): the client may or may not have executed it.
    /// The next call carries the same sequence id again (a retry, §2.10.6.2); RETRY_UNCACHED_REP then means it did.
    /// </summary>
    public bool Uncertain { get; set; }

    /// <summary>The csa_sequenceid of the next call on this slot.</summary>
    public uint NextSequenceId => unchecked(SeqId + 1);
}

/// <summary>What happened to a slot's call, for <see cref="CallbackSlotTable.Release"/>.</summary>
internal enum CallbackSlotOutcome
{
    /// <summary>CB_SEQUENCE succeeded: the sequence id advances.</summary>
    Completed,

    /// <summary>CB_SEQUENCE failed or was never sent: the slot is as before (§20.9.3: an error changes nothing).</summary>
    Unchanged,

    /// <summary>No reply: the next call on the slot is a retry of this one.</summary>
    Uncertain,

    /// <summary>The client and the server disagree about the slot (SEQ_MISORDERED): start it again at sequence id 1.</summary>
    Reset,
}

/// <summary>
/// The back channel's slot table: as many slots as ca_maxrequests of the back channel attributes agreed at
/// CREATE_SESSION. Free slots wait in a channel, so acquiring never blocks a thread and takes no lock; at most
/// <see cref="Count"/> CB_COMPOUNDs of a session are in flight.
/// </summary>
internal sealed class CallbackSlotTable
{
    private readonly Channel<CallbackSlot> _free;

    public CallbackSlotTable(int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        Count = count;
        _free = Channel.CreateBounded<CallbackSlot>(new BoundedChannelOptions(count) { SingleReader = false, SingleWriter = false });
        for (int i = 0; i < count; i++)
            _free.Writer.TryWrite(new CallbackSlot(i));
    }

    public int Count { get; }

    /// <summary>csa_highest_slotid: the highest slot id the server may use.</summary>
    public uint HighestSlotId => (uint)(Count - 1);

    /// <summary>Slots not in use at this moment.</summary>
    public int Available => _free.Reader.Count;

    /// <summary>Waits (asynchronously) for a free slot.</summary>
    public ValueTask<CallbackSlot> AcquireAsync(CancellationToken cancellationToken) => _free.Reader.ReadAsync(cancellationToken);

    public bool TryAcquire(out CallbackSlot slot) => _free.Reader.TryRead(out slot!);

    /// <summary>Gives the slot back, first recording what its call did to the sequence id.</summary>
    public void Release(CallbackSlot slot, CallbackSlotOutcome outcome)
    {
        switch (outcome)
        {
            case CallbackSlotOutcome.Completed:
                slot.SeqId = slot.NextSequenceId;
                slot.Uncertain = false;
                break;
            case CallbackSlotOutcome.Uncertain:
                slot.Uncertain = true;
                break;
            case CallbackSlotOutcome.Reset:
                slot.SeqId = 0;
                slot.Uncertain = false;
                break;
        }
        _free.Writer.TryWrite(slot);
    }
}
