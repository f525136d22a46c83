using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Messages;
using Leasehold.Rpc.Server;
using Leasehold.Rpc.Xdr;
using Microsoft.Extensions.Logging;

namespace Leasehold.Nfs4.Callbacks;

/// <summary>What the server knows about a session's back channel (knfsd's NFSD4_CB_UNKNOWN/UP/DOWN/FAULT).</summary>
internal enum BackChannelState
{
    /// <summary>Bound but not heard from yet: treated as usable until a call says otherwise (knfsd does the same for 4.1).</summary>
    Unknown,

    /// <summary>The last probe or CB_COMPOUND was answered.</summary>
    Up,

    /// <summary>No connection is bound, or a call timed out or lost its connection: SEQ4_STATUS_CB_PATH_DOWN_SESSION.</summary>
    Down,

    /// <summary>The client answered, but wrongly (RPC denied, program unavailable, malformed reply): SEQ4_STATUS_BACKCHANNEL_FAULT.</summary>
    Fault,
}

/// <summary>How a <see cref="BackChannel.SendAsync"/> ended.</summary>
internal enum CbCallStatus
{
    /// <summary>CB_SEQUENCE succeeded; <see cref="CbCompoundReply.OpStatus"/> is the operation's own answer.</summary>
    Delivered,

    /// <summary>CB_SEQUENCE answered an error (<see cref="CbSequenceReply.Status"/>: DELAY, SEQ_MISORDERED, BADSLOT...).</summary>
    SequenceError,

    /// <summary>Nothing was sent: no connection is bound to the back channel.</summary>
    NoChannel,

    /// <summary>Sent, but no reply (timeout or the connection closed); the channel is now Down and the slot uncertain.</summary>
    TransportFailed,

    /// <summary>The client's answer was unusable (RPC error, malformed, wrong echo); the channel is now Fault.</summary>
    Fault,
}

/// <summary>The outcome of one CB_COMPOUND: what happened and, when the client answered, its decoded reply.</summary>
internal readonly record struct CbCallResult(CbCallStatus Status, CbCompoundReply Reply = default);

/// <summary>
/// A session's back channel (RFC 8881 §2.10.3.1, §18.36, §18.34, §18.33): the connections the client bound for it,
/// the program and security it asked callbacks to use, and its own slot table sized by the back channel attributes
/// agreed at CREATE_SESSION. Sends CB_NULL probes and CB_COMPOUNDs (CB_SEQUENCE first) through
/// <see cref="IRpcConnection.CallAsync"/>: never blocking a thread, never holding a lock across an await, each call
/// bounded by <see cref="Nfs4Options.CallbackTimeout"/>. Its lock guards only the connection list and the state.
/// </summary>
internal sealed class BackChannel
{
    private readonly Lock _sync = new();
    private readonly List<(IRpcConnection Connection, CancellationTokenRegistration Registration)> _connections = [];
    private readonly byte[] _sessionId;
    private readonly ulong _clientId;
    private readonly TimeSpan _timeout;
    private readonly ILogger _logger;
    private readonly Action? _usable;
    private readonly uint _minorVersion;
    private Configuration _config;
    private BackChannelState _state;
    /// <summary>Bumped by every bind and reconfiguration, so a probe's late answer never overrides a newer one's.</summary>
    private int _generation;
    private bool _closed;

    /// <summary>Program and security, swapped whole so BACKCHANNEL_CTL is atomic for calls that read them.</summary>
    private sealed record Configuration(uint Program, CallbackSecurity Security);

    /// <param name="usable">
    /// Called (outside the lock, on the thread that made the change) whenever the channel may carry callbacks again:
    /// a connection was bound, or a probe or call was answered while it was not Up. Callbacks that found no usable
    /// channel wait for this (<see cref="RecallSender"/>). It must return quickly.
    /// </param>
    /// <param name="minorVersion">The session's minor version (its CREATE_SESSION's), which every CB_COMPOUND carries, as knfsd's cl_minorversion.</param>
    public BackChannel(byte[] sessionId, ulong clientId, ChannelAttributes attributes, uint program, CallbackSecurity security, TimeSpan timeout, ILogger logger,
        Action? usable = null, uint minorVersion = 1)
    {
        _usable = usable;
        _minorVersion = minorVersion;
        _sessionId = sessionId;
        _clientId = clientId;
        Attributes = attributes;
        _config = new Configuration(program, security);
        _timeout = timeout;
        _logger = logger;
        Slots = new CallbackSlotTable((int)attributes.MaxRequests);
    }

    /// <summary>
    /// The minor version of the COMPOUND that created the session, which every CB_COMPOUND carries (RFC 8881 §20.9.3
    /// as knfsd applies it: <c>cl_minorversion</c>); a 4.2 client may refuse a minor version 1 callback.
    /// </summary>
    public uint MinorVersion => _minorVersion;

    /// <summary>The back channel attributes agreed at CREATE_SESSION.</summary>
    public ChannelAttributes Attributes { get; }

    public CallbackSlotTable Slots { get; }

    /// <summary>csa_cb_program / bca_cb_program: the RPC program number callbacks are sent to.</summary>
    public uint Program => Volatile.Read(ref _config).Program;

    public CallbackSecurity Security => Volatile.Read(ref _config).Security;

    public BackChannelState State
    {
        get
        {
            lock (_sync)
                return _state;
        }
    }

    /// <summary>Connections bound to the back channel right now.</summary>
    public int ConnectionCount
    {
        get
        {
            lock (_sync)
                return _connections.Count;
        }
    }

    /// <summary>
    /// Usable for callbacks (and so for granting delegations): a connection is bound and the channel is Up or not yet
    /// heard from (Unknown).
    /// </summary>
    public bool IsUp
    {
        get
        {
            lock (_sync)
                return !_closed && _connections.Count > 0 && _state is BackChannelState.Up or BackChannelState.Unknown;
        }
    }

    /// <summary>
    /// Binds <paramref name="connection"/> for callbacks (CREATE_SESSION with CONN_BACK_CHAN, BIND_CONN_TO_SESSION
    /// with a back direction). The channel goes back to Unknown until a probe or call says more; when the connection
    /// closes it is unbound, and the channel is Down once none is left. Idempotent.
    /// </summary>
    public void Bind(IRpcConnection connection)
    {
        lock (_sync)
        {
            if (_closed || _connections.Exists(c => c.Connection == connection))
                return;
        }
        // Registered outside the lock: on a connection already closed the callback runs at once and takes it.
        var registration = connection.Closed.Register(static s =>
        {
            var (channel, connection) = ((BackChannel, IRpcConnection))s!;
            channel.ConnectionLost(connection);
        }, (this, connection));
        lock (_sync)
        {
            if (_closed || connection.Closed.IsCancellationRequested || _connections.Exists(c => c.Connection == connection))
            {
                registration.Unregister();
                return;
            }
            _connections.Add((connection, registration));
            _state = BackChannelState.Unknown;
            _generation++;
        }
        _usable?.Invoke();
    }

    /// <summary>BACKCHANNEL_CTL (§18.33): callbacks from now on use this program and security.</summary>
    public void Configure(uint program, CallbackSecurity security)
    {
        Volatile.Write(ref _config, new Configuration(program, security));
        lock (_sync)
        {
            _generation++;
            if (_state == BackChannelState.Fault)
                _state = BackChannelState.Unknown; // perhaps the fault was the old program or security: probe again
        }
    }

    /// <summary>The session is gone (DESTROY_SESSION, client expiry): unbind everything; nothing more is sent.</summary>
    public void Close()
    {
        CancellationTokenRegistration[] registrations;
        lock (_sync)
        {
            _closed = true;
            _state = BackChannelState.Down;
            registrations = [.. _connections.Select(c => c.Registration)];
            _connections.Clear();
        }
        foreach (var r in registrations)
            r.Unregister(); // never waits for a running callback, unlike Dispose
    }

    private void ConnectionLost(IRpcConnection connection)
    {
        bool down = false;
        lock (_sync)
        {
            int i = _connections.FindIndex(c => c.Connection == connection);
            if (i < 0)
                return;
            _connections.RemoveAt(i);
            if (_connections.Count == 0 && !_closed)
            {
                _state = BackChannelState.Down;
                down = true;
            }
        }
        if (down)
            Log.BackChannelDown(_logger, _clientId, Convert.ToHexString(_sessionId), "its last connection closed");
    }

    /// <summary>The most recently bound connection: after a rebind the client's newest path is the likeliest to work.</summary>
    private bool TryPickConnection(out IRpcConnection connection, out int generation)
    {
        lock (_sync)
        {
            generation = _generation;
            if (_closed || _connections.Count == 0)
            {
                connection = null!;
                return false;
            }
            connection = _connections[^1].Connection;
            return true;
        }
    }

    /// <summary>Moves to <paramref name="state"/> unless a bind or reconfiguration happened since <paramref name="generation"/>.</summary>
    private void SetState(BackChannelState state, int generation, string reason)
    {
        BackChannelState before;
        lock (_sync)
        {
            if (_closed || generation != _generation || _connections.Count == 0)
                return;
            before = _state;
            _state = state;
        }
        if (before == state)
            return;
        string session = Convert.ToHexString(_sessionId);
        switch (state)
        {
            case BackChannelState.Up:
                Log.BackChannelUp(_logger, _clientId, session);
                _usable?.Invoke();
                break;
            case BackChannelState.Down:
                Log.BackChannelDown(_logger, _clientId, session, reason);
                break;
            case BackChannelState.Fault:
                Log.BackChannelFault(_logger, _clientId, session, reason);
                break;
        }
    }

    /// <summary>
    /// CB_NULL on the back channel (RFC 8881 §20's procedure 0) with its program and security, to learn whether it
    /// works: answered → Up; denied or not accepted (wrong program or security) → Fault; no answer within the
    /// callback timeout → Down. Never throws; nothing to await for the caller but the probe itself.
    /// </summary>
    public async Task ProbeAsync()
    {
        if (!TryPickConnection(out var connection, out int generation))
            return;
        var config = Volatile.Read(ref _config);
        RpcCallOutcome outcome;
        try
        {
            outcome = await connection.CallAsync(config.Program, CbCompound.Version, CbCompound.ProcNull, config.Security.Credentials,
                0, static (_, _) => { }, _timeout, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            SetState(BackChannelState.Fault, generation, ex.Message);
            return;
        }
        switch (outcome.Status)
        {
            case RpcCallStatus.Replied:
                SetState(BackChannelState.Up, generation, "CB_NULL answered");
                break;
            case RpcCallStatus.Denied or RpcCallStatus.NotAccepted or RpcCallStatus.Malformed:
                SetState(BackChannelState.Fault, generation, $"CB_NULL {outcome.Status} ({outcome.AcceptStat})");
                break;
            case RpcCallStatus.TimedOut:
                SetState(BackChannelState.Down, generation, "CB_NULL timed out");
                break;
            // Closed: the connection's own registration already unbound it. Refused: too busy to tell; nothing learnt.
        }
    }

    /// <summary>
    /// Sends <paramref name="compound"/> as CB_SEQUENCE plus its operation on a slot of this back channel, waiting
    /// (asynchronously) for a free slot first, and reads the reply (§20.9, knfsd's <c>nfsd4_cb_sequence_done</c>):
    /// <list type="bullet">
    /// <item>no reply (timeout, closed): the slot becomes uncertain (the next call on it repeats the sequence id) and
    /// the channel Down → <see cref="CbCallStatus.TransportFailed"/>;</item>
    /// <item>RPC denied, not accepted, malformed, or a CB_SEQUENCE that does not echo ours: the slot is unchanged and
    /// the channel Fault → <see cref="CbCallStatus.Fault"/>;</item>
    /// <item>CB_SEQUENCE failed: the slot is unchanged (§20.9.3), or reset on SEQ_MISORDERED, or advanced on
    /// RETRY_UNCACHED_REP after an uncertain call (the client did execute it) → <see cref="CbCallStatus.SequenceError"/>;</item>
    /// <item>CB_SEQUENCE succeeded: the slot advances and the channel is Up → <see cref="CbCallStatus.Delivered"/>.</item>
    /// </list>
    /// Retrying is the caller's business. The slot is released on every path before this returns.
    /// </summary>
    public async ValueTask<CbCallResult> SendAsync(CbCompound compound, CancellationToken cancellationToken)
    {
        var slot = await Slots.AcquireAsync(cancellationToken).ConfigureAwait(false);
        var release = CallbackSlotOutcome.Unchanged;
        try
        {
            if (!TryPickConnection(out var connection, out int generation))
                return new CbCallResult(CbCallStatus.NoChannel);
            var config = Volatile.Read(ref _config);
            byte[] request;
            using (var w = new XdrWriter(512))
            {
                compound.Write(w, _sessionId, slot, Slots.HighestSlotId, _minorVersion);
                request = w.WrittenSpan.ToArray();
            }
            if (request.Length > Attributes.MaxRequestSize)
            {
                SetState(BackChannelState.Fault, generation, $"a {compound.Operation.Opcode} of {request.Length} bytes exceeds ca_maxrequestsize {Attributes.MaxRequestSize}");
                return new CbCallResult(CbCallStatus.Fault);
            }

            var outcome = await connection.CallAsync(config.Program, CbCompound.Version, CbCompound.ProcCompound, config.Security.Credentials,
                request, static (w, bytes) =>
                {
                    bytes.CopyTo(w.GetSpan(bytes.Length));
                    w.Advance(bytes.Length);
                }, _timeout, cancellationToken).ConfigureAwait(false);

            switch (outcome.Status)
            {
                case RpcCallStatus.TimedOut or RpcCallStatus.Closed:
                    release = CallbackSlotOutcome.Uncertain;
                    SetState(BackChannelState.Down, generation, $"{compound.Operation.Opcode} {outcome.Status}");
                    return new CbCallResult(CbCallStatus.TransportFailed);
                case RpcCallStatus.Refused:
                    return new CbCallResult(CbCallStatus.TransportFailed); // never sent: nothing learnt about the channel
                case RpcCallStatus.Denied or RpcCallStatus.NotAccepted or RpcCallStatus.Malformed:
                    SetState(BackChannelState.Fault, generation, $"CB_COMPOUND {outcome.Status} ({outcome.AcceptStat})");
                    return new CbCallResult(CbCallStatus.Fault);
            }

            var results = outcome.ResultsMemory;
            if (!CbCompoundReply.TryRead(results, compound.Operation.Opcode, out var reply) || reply.Sequence is not { } sequence)
            {
                SetState(BackChannelState.Fault, generation, "malformed CB_COMPOUND reply");
                return new CbCallResult(CbCallStatus.Fault, reply);
            }
            switch (sequence.Status)
            {
                case NfsStat4.Ok:
                    if (!sequence.SessionId.AsSpan().SequenceEqual(_sessionId) || sequence.SequenceId != slot.NextSequenceId || sequence.SlotId != (uint)slot.Id)
                    {
                        SetState(BackChannelState.Fault, generation, "CB_SEQUENCE reply does not echo the session, sequence id and slot sent");
                        return new CbCallResult(CbCallStatus.Fault, reply);
                    }
                    release = CallbackSlotOutcome.Completed;
                    SetState(BackChannelState.Up, generation, "CB_COMPOUND answered");
                    return new CbCallResult(CbCallStatus.Delivered, reply);
                case NfsStat4.SeqMisordered:
                    release = CallbackSlotOutcome.Reset;
                    break;
                case NfsStat4.RetryUncachedRep when slot.Uncertain:
                    release = CallbackSlotOutcome.Completed;
                    break;
                case NfsStat4.BadSlot or NfsStat4.BadSession:
                    SetState(BackChannelState.Fault, generation, $"CB_SEQUENCE {sequence.Status}");
                    break;
            }
            return new CbCallResult(CbCallStatus.SequenceError, reply);
        }
        finally
        {
            Slots.Release(slot, release);
        }
    }
}
