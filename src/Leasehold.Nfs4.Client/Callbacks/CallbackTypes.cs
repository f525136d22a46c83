namespace Leasehold.Nfs4.Client.Callbacks;

/// <summary>Something the server sent on the back channel.</summary>
public abstract record CallbackEvent
{
    /// <summary>The RPC credentials of the call that carried it (the callback security the client gave the server), when known.</summary>
    public Leasehold.Rpc.Messages.RpcCredentials? Credentials { get; init; }
}

/// <summary>CB_NULL (the server probing the back channel).</summary>
public sealed record CbNullEvent : CallbackEvent;

/// <summary>CB_SEQUENCE4args (RFC 8881 §20.9).</summary>
public sealed record CbSequenceEvent(SessionId SessionId, uint SequenceId, uint SlotId, uint HighestSlotId, bool CacheThis)
    : CallbackEvent;

/// <summary>CB_RECALL4args (RFC 8881 §20.2): give back the delegation <see cref="StateId"/> on <see cref="FileHandle"/>.</summary>
public sealed record CbRecallEvent(StateId StateId, bool Truncate, FileHandle FileHandle) : CallbackEvent;

/// <summary>CB_GETATTR4args (RFC 8881 §20.1): the holder of a write delegation on <see cref="FileHandle"/> reports <see cref="Mask"/>.</summary>
public sealed record CbGetAttrEvent(FileHandle FileHandle, AttrBitmap Mask) : CallbackEvent;

/// <summary>
/// The answer to CB_GETATTR: a status and, when OK, the values the client reports (RFC 8881 §10.4.3: the change
/// attribute it got with the delegation, plus one if it holds modified data, and its size in bytes). Only the values
/// given and asked for go into the fattr4.
/// </summary>
public sealed record CbGetAttrAnswer(NfsStat4 Status, ulong? Change = null, ulong? Size = null)
{
    /// <summary>time_deleg_access (RFC 9754 §5): the holder of delegated timestamps reports its access time when asked.</summary>
    public NfsTime? TimeDelegAccess { get; init; }

    /// <summary>time_deleg_modify (RFC 9754 §5): its modify time.</summary>
    public NfsTime? TimeDelegModify { get; init; }

    /// <summary>NFS4ERR_NOTSUPP: what a client that does not answer CB_GETATTR says.</summary>
    public static CbGetAttrAnswer NotSupported { get; } = new(NfsStat4.NotSupp);

    public static CbGetAttrAnswer Attributes(ulong change, ulong size) => new(NfsStat4.Ok, change, size);
}

/// <summary>
/// CB_OFFLOAD4args (RFC 7862 §16.1): the asynchronous copy <see cref="StateId"/> onto <see cref="FileHandle"/> is over.
/// <see cref="Status"/> is its offload_info4 status: NFS4_OK with the bytes copied, their stability and the write
/// verifier (write_response4), or an error with the bytes copied before it (<see cref="Committed"/> and
/// <see cref="Verifier"/> are then Unstable and 0).
/// </summary>
public sealed record CbOffloadEvent(FileHandle FileHandle, StateId StateId, NfsStat4 Status, ulong Count, StableHow Committed, ulong Verifier)
    : CallbackEvent;

/// <summary>A callback operation this client only acknowledges (CB_RECALL_ANY…) or refuses (the rest).</summary>
/// <summary>CB_NOTIFY_LOCK (RFC 8881 §20.11): the lock <paramref name="Owner"/> of client <paramref name="ClientId"/> waited for on <paramref name="FileHandle"/> may be free; ask again.</summary>
public sealed record CbNotifyLockEvent(FileHandle FileHandle, ulong ClientId, byte[] Owner) : CallbackEvent;

public sealed record CbOtherEvent(CbOpcode Op) : CallbackEvent;

/// <summary>
/// What the client does with back-channel calls. Called on a pool thread, once per operation; answer quickly:
/// the server waits for the CB_COMPOUND reply. To return a recalled delegation, reply OK here and send DELEGRETURN
/// afterwards on the fore channel, never from inside this call.
/// </summary>
public interface INfs4CallbackHandler
{
    /// <summary>A CB_NULL probe. Nothing to answer.</summary>
    ValueTask OnNullAsync(CancellationToken cancellationToken);

    /// <summary>A CB_NULL probe, with the credentials it came with. By default the same as <see cref="OnNullAsync(CancellationToken)"/>.</summary>
    ValueTask OnNullAsync(CbNullEvent probe, CancellationToken cancellationToken) => OnNullAsync(cancellationToken);

    /// <summary>CB_SEQUENCE, the first op of every CB_COMPOUND. Return OK to go on.</summary>
    ValueTask<NfsStat4> OnSequenceAsync(CbSequenceEvent sequence, CancellationToken cancellationToken);

    /// <summary>CB_RECALL. OK means "recall received; DELEGRETURN follows".</summary>
    ValueTask<NfsStat4> OnRecallAsync(CbRecallEvent recall, CancellationToken cancellationToken);

    /// <summary>CB_GETATTR (RFC 8881 §20.1). By default NFS4ERR_NOTSUPP, which makes the server recall the delegation.</summary>
    ValueTask<CbGetAttrAnswer> OnGetAttrAsync(CbGetAttrEvent getAttr, CancellationToken cancellationToken) =>
        ValueTask.FromResult(CbGetAttrAnswer.NotSupported);

    /// <summary>CB_OFFLOAD (RFC 7862 §16.1): an asynchronous COPY is over. By default OK ("noted").</summary>
    ValueTask<NfsStat4> OnOffloadAsync(CbOffloadEvent offload, CancellationToken cancellationToken) => ValueTask.FromResult(NfsStat4.Ok);

    /// <summary>CB_NOTIFY_LOCK (RFC 8881 §20.11): a lock this client waited for may be free. By default OK ("noted").</summary>
    ValueTask<NfsStat4> OnNotifyLockAsync(CbNotifyLockEvent notify, CancellationToken cancellationToken) => ValueTask.FromResult(NfsStat4.Ok);

    /// <summary>Any other callback operation; the default handler acknowledges CB_RECALL_ANY and refuses the rest.</summary>
    ValueTask<NfsStat4> OnOtherAsync(CbOtherEvent other, CancellationToken cancellationToken);
}
