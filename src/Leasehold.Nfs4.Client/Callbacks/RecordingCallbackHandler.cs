using System.Threading.Channels;

namespace Leasehold.Nfs4.Client.Callbacks;

/// <summary>
/// The default back-channel handler: answers CB_NULL, CB_SEQUENCE, CB_RECALL and CB_OFFLOAD with OK, CB_GETATTR with
/// <see cref="GetAttrAnswer"/> (NFS4ERR_NOTSUPP when unset), and records every event so a test can wait for it
/// (<see cref="Events"/>, <see cref="Recalls"/>, <see cref="GetAttrs"/>, <see cref="Offloads"/>). It never returns a delegation by itself.
/// <see cref="SequenceAnswer"/> and <see cref="RecallAnswer"/> change the answers (an error, a late answer, none at
/// all); events are recorded before the answer is asked for.
/// </summary>
public sealed class RecordingCallbackHandler : INfs4CallbackHandler
{
    private readonly Channel<CallbackEvent> _events = Channel.CreateUnbounded<CallbackEvent>();
    private readonly Channel<CbRecallEvent> _recalls = Channel.CreateUnbounded<CbRecallEvent>();
    private readonly Channel<CbGetAttrEvent> _getAttrs = Channel.CreateUnbounded<CbGetAttrEvent>();
    private readonly Channel<CbOffloadEvent> _offloads = Channel.CreateUnbounded<CbOffloadEvent>();
    private readonly Channel<CbNotifyLockEvent> _lockNotices = Channel.CreateUnbounded<CbNotifyLockEvent>();
    private int _nullCount;
    private int _sequenceCount;

    /// <summary>Every callback event, in arrival order.</summary>
    public ChannelReader<CallbackEvent> Events => _events.Reader;

    /// <summary>The recalls alone, for tests that wait for one.</summary>
    public ChannelReader<CbRecallEvent> Recalls => _recalls.Reader;

    /// <summary>The CB_NOTIFY_LOCKs alone (answered OK).</summary>
    public ChannelReader<CbNotifyLockEvent> LockNotices => _lockNotices.Reader;

    /// <summary>The CB_GETATTRs alone, recorded before they are answered.</summary>
    public ChannelReader<CbGetAttrEvent> GetAttrs => _getAttrs.Reader;

    /// <summary>The CB_OFFLOADs alone (answered OK, or with <see cref="OffloadAnswer"/>), recorded before they are answered.</summary>
    public ChannelReader<CbOffloadEvent> Offloads => _offloads.Reader;

    /// <summary>Decides the status of each CB_OFFLOAD (for instance NFS4ERR_DELAY); null answers OK.</summary>
    public Func<CbOffloadEvent, CancellationToken, ValueTask<NfsStat4>>? OffloadAnswer { get; set; }

    /// <summary>
    /// How CB_GETATTR is answered (a holder of a write delegation reports its change attribute and size); null:
    /// NFS4ERR_NOTSUPP. May await (a test holds the answer back to see the server give up waiting).
    /// </summary>
    public Func<CbGetAttrEvent, CancellationToken, ValueTask<CbGetAttrAnswer>>? GetAttrAnswer { get; set; }

    public int NullCount => Volatile.Read(ref _nullCount);

    public int SequenceCount => Volatile.Read(ref _sequenceCount);

    /// <summary>
    /// Decides the status of each CB_SEQUENCE (for instance NFS4ERR_DELAY to make the server come back later); null
    /// answers OK. A task that never completes leaves the CB_COMPOUND unanswered; the token is cancelled when the
    /// connection closes, and then no reply is sent at all.
    /// </summary>
    public Func<CbSequenceEvent, CancellationToken, ValueTask<NfsStat4>>? SequenceAnswer { get; set; }

    /// <summary>
    /// Decides the status of each CB_RECALL (for instance NFS4ERR_BADHANDLE, as a client that has not yet seen the
    /// OPEN reply granting the delegation answers); null answers OK. Unanswered and cancelled as <see cref="SequenceAnswer"/>.
    /// </summary>
    public Func<CbRecallEvent, CancellationToken, ValueTask<NfsStat4>>? RecallAnswer { get; set; }

    public ValueTask OnNullAsync(CancellationToken cancellationToken) => OnNullAsync(new CbNullEvent(), cancellationToken);

    public ValueTask OnNullAsync(CbNullEvent probe, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _nullCount);
        _events.Writer.TryWrite(probe);
        return ValueTask.CompletedTask;
    }

    public ValueTask<NfsStat4> OnSequenceAsync(CbSequenceEvent sequence, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _sequenceCount);
        _events.Writer.TryWrite(sequence);
        return SequenceAnswer is { } answer ? answer(sequence, cancellationToken) : ValueTask.FromResult(NfsStat4.Ok);
    }

    public ValueTask<NfsStat4> OnRecallAsync(CbRecallEvent recall, CancellationToken cancellationToken)
    {
        _events.Writer.TryWrite(recall);
        _recalls.Writer.TryWrite(recall);
        return RecallAnswer is { } answer ? answer(recall, cancellationToken) : ValueTask.FromResult(NfsStat4.Ok);
    }

    public ValueTask<CbGetAttrAnswer> OnGetAttrAsync(CbGetAttrEvent getAttr, CancellationToken cancellationToken)
    {
        _events.Writer.TryWrite(getAttr);
        _getAttrs.Writer.TryWrite(getAttr);
        return GetAttrAnswer is { } answer ? answer(getAttr, cancellationToken) : ValueTask.FromResult(CbGetAttrAnswer.NotSupported);
    }

    public ValueTask<NfsStat4> OnOffloadAsync(CbOffloadEvent offload, CancellationToken cancellationToken)
    {
        _events.Writer.TryWrite(offload);
        _offloads.Writer.TryWrite(offload);
        return OffloadAnswer is { } answer ? answer(offload, cancellationToken) : ValueTask.FromResult(NfsStat4.Ok);
    }

    public ValueTask<NfsStat4> OnNotifyLockAsync(CbNotifyLockEvent notify, CancellationToken cancellationToken)
    {
        _events.Writer.TryWrite(notify);
        _lockNotices.Writer.TryWrite(notify);
        return ValueTask.FromResult(NfsStat4.Ok);
    }

    public ValueTask<NfsStat4> OnOtherAsync(CbOtherEvent other, CancellationToken cancellationToken)
    {
        _events.Writer.TryWrite(other);
        // CB_RECALL_ANY asks us to drop some state; "OK, noted" is a valid answer for a client holding little.
        return ValueTask.FromResult(other.Op == CbOpcode.CbRecallAny ? NfsStat4.Ok : NfsStat4.NotSupp);
    }
}
