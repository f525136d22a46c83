using System.Net;
using System.Security.Cryptography;
using System.Text;
using Leasehold.Nfs4.Client.Callbacks;
using Leasehold.Nfs4.Client.Rpc;
using Leasehold.Rpc.Messages;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Client;

/// <summary>An open file: its filehandle, the open stateid, any delegation, and the attributes asked for with the OPEN.</summary>
public sealed record OpenedFile(FileHandle FileHandle, StateId StateId, Delegation Delegation, ChangeInfo ChangeInfo,
    uint ResultFlags, FileAttributes? Attributes);

/// <summary>
/// An NFSv4.1 client session on one connection (RFC 8881 §2.10): EXCHANGE_ID, CREATE_SESSION with the back channel on
/// the same connection, RECLAIM_COMPLETE, then compounds that each take a slot and get a SEQUENCE in front.
/// Calls may run in parallel up to the slot count. NFS failures come back as statuses; only transport failures throw
/// (<see cref="IOException"/>, <see cref="TimeoutException"/>, <see cref="RpcException"/>).
/// </summary>
public sealed class Nfs4Session : IAsyncDisposable
{
    /// <summary>NFS4_PROGRAM, version 4, procedure 1 = COMPOUND (RFC 8881 §16.1–§16.2).</summary>
    public const uint NfsProgram = 100003;
    public const uint NfsVersion = 4;
    private const uint ProcCompound = 1;

    /// <summary>READDIR byte budgets: 8 KiB of names and 64 KiB of reply per round trip, as Linux asks.</summary>
    private const uint ReadDirDirCount = 8 * 1024;
    private const uint ReadDirMaxCount = 64 * 1024;

    private readonly EndPoint _server;
    private readonly CallbackProgram _callbackProgram;
    private RpcClient _rpc;
    private readonly RpcCredentials _credentials;
    private readonly Nfs4SessionOptions _options;
    private readonly CancellationTokenSource _stopping = new();
    private SlotTable _slots = new(1);
    private Task? _renewal;
    private long _ownerCounter;
    private uint _createSessionSequence;
    private int _disposed;

    private Nfs4Session(EndPoint server, RpcClient rpc, CallbackProgram callbackProgram, RpcCredentials credentials, Nfs4SessionOptions options,
        INfs4CallbackHandler callbacks)
    {
        _server = server;
        _rpc = rpc;
        _callbackProgram = callbackProgram;
        _credentials = credentials;
        _options = options;
        CallbackHandler = callbacks;
    }

    public RpcClient Rpc => _rpc;
    public RpcCredentials Credentials => _credentials;
    public ulong ClientId { get; private set; }
    public SessionId SessionId { get; private set; }
    public ChannelAttrs? ForeChannel { get; private set; }
    public ChannelAttrs? BackChannel { get; private set; }

    /// <summary>True when the server bound the back channel to this connection (CREATE_SESSION4_FLAG_CONN_BACK_CHAN in its reply).</summary>
    public bool HasBackChannel { get; private set; }

    public ExchangeIdResult? ExchangeIdReply { get; private set; }

    /// <summary>The server's lease_time in seconds (read after CREATE_SESSION; 90 if the server would not say).</summary>
    public uint LeaseTimeSeconds { get; private set; } = 90;

    /// <summary>SEQ4_STATUS_* flags from the latest SEQUENCE reply (§18.46.3): the server's news about the client's state.</summary>
    public uint LastSequenceStatusFlags { get; private set; }

    public INfs4CallbackHandler CallbackHandler { get; }

    /// <summary>The slots granted (the smaller of what was asked and the server's ca_maxrequests).</summary>
    public int SlotCount => _slots.Size;

    /// <summary>Slots lost to calls without a reply (timeouts); see <see cref="SlotTable.Retire"/>.</summary>
    public int RetiredSlots => _slots.Retired;

    /// <summary>The open-owner helpers use unless told otherwise. In 4.1 one owner may have many opens in flight.</summary>
    public StateOwner OpenOwner { get; private set; } = new(0, []);

    public static async Task<Nfs4Session> ConnectAsync(Nfs4Endpoint endpoint, RpcCredentials credentials,
        Nfs4SessionOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        var ip = await endpoint.ResolveAsync(cancellationToken).ConfigureAwait(false);
        return await ConnectAsync(ip, credentials, options, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Connects and sets up a session. Transport errors throw; an NFS error in the setup throws <see cref="Nfs4StatusException"/>.</summary>
    public static async Task<Nfs4Session> ConnectAsync(EndPoint server, RpcCredentials credentials,
        Nfs4SessionOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= Nfs4SessionOptions.Default;
        var callbacks = options.CallbackHandler ?? new RecordingCallbackHandler();
        var program = new CallbackProgram(options.CallbackProgram, callbacks);
        var rpc = await RpcClient.ConnectAsync(server, options.Rpc, program, cancellationToken).ConfigureAwait(false);
        var session = new Nfs4Session(server, rpc, program, credentials, options, callbacks);
        try
        {
            await session.EstablishAsync(cancellationToken).ConfigureAwait(false);
            return session;
        }
        catch
        {
            await rpc.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task EstablishAsync(CancellationToken cancellationToken)
    {
        string ownerId = _options.OwnerId ?? $"leasehold-nfs4-client/{Environment.MachineName}/{Convert.ToHexString(RandomNumberGenerator.GetBytes(8))}";
        ulong verifier = BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8));
        using (var exchange = new CompoundBuilder("exchange_id") { MinorVersion = _options.MinorVersion }.ExchangeId(new ExchangeIdArgs(verifier, Encoding.UTF8.GetBytes(ownerId),
            ExchangeIdFlags.None, new ImplementationId("leasehold.dev", "Leasehold.Nfs4.Client", default))))
        {
            var reply = (await SendAsync(exchange, cancellationToken).ConfigureAwait(false)).ThrowIfFailed();
            ExchangeIdReply = reply.Get<ExchangeIdResult>();
            ClientId = ExchangeIdReply.ClientId;
        }

        _createSessionSequence = ExchangeIdReply.SequenceId;
        (await CreateSessionAsync(cancellationToken).ConfigureAwait(false)).ThrowIfFailed();
        OpenOwner = NewOwner("open");

        if (_options.ReclaimComplete)
        {
            using var rc = new CompoundBuilder("reclaim_complete") { MinorVersion = _options.MinorVersion }.ReclaimComplete();
            var reply = await CompoundAsync(rc, cancellationToken).ConfigureAwait(false);
            if (!reply.IsOk && reply.Status != NfsStat4.CompleteAlready)
                throw new Nfs4StatusException(reply.Status, reply.Failed?.Op);
        }

        using (var lease = new CompoundBuilder("lease_time") { MinorVersion = _options.MinorVersion }.PutRootFh().GetAttr(FileAttr.LeaseTime))
        {
            var reply = await CompoundAsync(lease, cancellationToken).ConfigureAwait(false);
            if (reply.Find<GetAttrResult>()?.Attributes?.LeaseTime is { } seconds and > 0)
                LeaseTimeSeconds = seconds;
        }

        if (_options.RenewLease)
            _renewal = RunLeaseRenewalAsync(_stopping.Token);
    }

    /// <summary>
    /// CREATE_SESSION (§18.36) for this client, with the next csa_sequence; on success the new session replaces the one
    /// this object uses (its slots start afresh). Used at connect, and to come back after <see cref="DestroySessionAsync"/>.
    /// The reply is returned as is, for tests of the failures.
    /// </summary>
    public async Task<CompoundReply> CreateSessionAsync(CancellationToken cancellationToken = default)
    {
        var fore = new ChannelAttrs(0, _options.MaxMessageSize, _options.MaxMessageSize, 8 * 1024, _options.MaxOperations, _options.Slots);
        // The back channel carries CB_SEQUENCE + CB_RECALL: small requests, one at a time.
        var back = new ChannelAttrs(0, 16 * 1024, 16 * 1024, 0, _options.BackChannelMaxOperations, _options.BackChannelSlots);
        var flags = _options.BackChannel ? CreateSessionFlags.ConnBackChannel : CreateSessionFlags.None;
        IReadOnlyList<RpcCredentials> cbSecurity = _options.CallbackSecurity
            ?? (_credentials.Flavor == AuthFlavor.Sys ? [_credentials] : [RpcCredentials.None]);
        using var create = new CompoundBuilder("create_session") { MinorVersion = _options.MinorVersion }.CreateSession(new CreateSessionArgs(ClientId,
            _createSessionSequence, flags, fore, back, _options.CallbackProgram, cbSecurity));
        var reply = await SendAsync(create, cancellationToken).ConfigureAwait(false);
        if (!reply.IsOk)
            return reply;
        _createSessionSequence++;
        var result = reply.Get<CreateSessionResult>();
        SessionId = result.SessionId;
        ForeChannel = result.ForeChannel;
        BackChannel = result.BackChannel;
        HasBackChannel = (result.Flags & CreateSessionFlags.ConnBackChannel) != 0;
        int slots = (int)Math.Clamp(Math.Min(_options.Slots, result.ForeChannel?.MaxRequests ?? 1), 1, 1024);
        _slots.Dispose();
        _slots = new SlotTable(slots);
        return reply;
    }

    /// <summary>
    /// Opens a new connection to the server, with the same callback handler, and binds it to this session with
    /// BIND_CONN_TO_SESSION (§18.34) alone in its COMPOUND. When that succeeds this object sends everything on the new
    /// connection from then on and closes the old one (destroying nothing: the server just unbinds it);
    /// <see cref="HasBackChannel"/> follows the direction the server answered. Otherwise the new connection is closed
    /// and the old one kept. Call it with no compound in flight. The reply is returned as is.
    /// </summary>
    public async Task<CompoundReply> ReconnectAsync(ChannelDirFromClient direction = ChannelDirFromClient.BackOrBoth,
        CancellationToken cancellationToken = default)
    {
        var rpc = await RpcClient.ConnectAsync(_server, _options.Rpc, _callbackProgram, cancellationToken).ConfigureAwait(false);
        CompoundReply reply;
        try
        {
            using var bind = new CompoundBuilder("bind_conn") { MinorVersion = _options.MinorVersion }.BindConnToSession(SessionId, direction);
            var rpcReply = await rpc.CallAsync(NfsProgram, NfsVersion, ProcCompound, _credentials, bind,
                static (w, c) => c.WriteTo(w), cancellationToken).ConfigureAwait(false);
            reply = CompoundReply.Decode(rpcReply.Results);
        }
        catch
        {
            await rpc.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        if (!reply.IsOk)
        {
            await rpc.DisposeAsync().ConfigureAwait(false);
            return reply;
        }
        var old = Interlocked.Exchange(ref _rpc, rpc);
        HasBackChannel = reply.Get<BindConnToSessionResult>().Direction != ChannelDirFromServer.Fore;
        await old.DisposeAsync().ConfigureAwait(false);
        return reply;
    }

    /// <summary>
    /// Closes this session's connection without DESTROY_SESSION, as a client that lost its network would: the server
    /// keeps the session (and unbinds the connection from it). Nothing can be sent until <see cref="ReconnectAsync"/>.
    /// </summary>
    public async Task DropConnectionAsync()
    {
        HasBackChannel = false;
        await _rpc.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>BACKCHANNEL_CTL (§18.33) behind a SEQUENCE: the server's callbacks use this program and security from now on. The status.</summary>
    public async Task<NfsStat4> BackchannelCtlAsync(uint callbackProgram, IReadOnlyList<RpcCredentials> security,
        CancellationToken cancellationToken = default)
    {
        using var c = new CompoundBuilder("backchannel_ctl") { MinorVersion = _options.MinorVersion }.BackchannelCtl(callbackProgram, security);
        return (await CompoundAsync(c, cancellationToken).ConfigureAwait(false)).Status;
    }

    /// <summary>DESTROY_SESSION (§18.37) of this object's session, alone in its COMPOUND; the status.</summary>
    public async Task<NfsStat4> DestroySessionAsync(CancellationToken cancellationToken = default)
    {
        using var c = new CompoundBuilder("destroy_session") { MinorVersion = _options.MinorVersion }.DestroySession(SessionId);
        return (await SendAsync(c, cancellationToken).ConfigureAwait(false)).Status;
    }

    /// <summary>
    /// DESTROY_CLIENTID (§18.50) of this client, alone in its COMPOUND (no SEQUENCE); the status. CLIENTID_BUSY while
    /// the client still has sessions or state.
    /// </summary>
    public async Task<NfsStat4> DestroyClientIdAsync(CancellationToken cancellationToken = default)
    {
        using var c = new CompoundBuilder("destroy_clientid") { MinorVersion = _options.MinorVersion }.DestroyClientId(ClientId);
        return (await SendAsync(c, cancellationToken).ConfigureAwait(false)).Status;
    }

    /// <summary>A new state owner (for OPEN or LOCK) unique within this client.</summary>
    public StateOwner NewOwner(string kind = "owner") =>
        new(ClientId, Encoding.UTF8.GetBytes($"{kind}-{Interlocked.Increment(ref _ownerCounter)}"));

    /// <summary>Sends a COMPOUND exactly as built (no SEQUENCE added): for EXCHANGE_ID, CREATE_SESSION, or negative tests.</summary>
    public async Task<CompoundReply> SendAsync(CompoundBuilder compound, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(compound);
        var reply = await _rpc.CallAsync(NfsProgram, NfsVersion, ProcCompound, _credentials, compound,
            static (w, c) => c.WriteTo(w), cancellationToken).ConfigureAwait(false);
        return CompoundReply.Decode(reply.Results);
    }

    /// <summary>
    /// Sends the operations in <paramref name="ops"/> behind a SEQUENCE on a free slot (waiting for one if all are busy).
    /// The reply's first result is that SEQUENCE.
    /// </summary>
    public async Task<CompoundReply> CompoundAsync(CompoundBuilder ops, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ops);
        if (ops.MinorVersion < _options.MinorVersion)
            ops.MinorVersion = _options.MinorVersion; // a session of minor version 2 sends every COMPOUND as 4.2
        var (slot, seq) = await _slots.AcquireAsync(cancellationToken).ConfigureAwait(false);
        var sequence = new SequenceArgs(SessionId, seq, slot, _slots.HighestSlotId, CacheThis: false);
        CompoundReply reply;
        try
        {
            var rpcReply = await _rpc.CallAsync(NfsProgram, NfsVersion, ProcCompound, _credentials, (ops, sequence),
                static (w, s) => s.ops.WriteTo(w, s.sequence), cancellationToken).ConfigureAwait(false);
            reply = CompoundReply.Decode(rpcReply.Results);
        }
        catch (XdrException)
        {
            // The server answered (so it saw the SEQUENCE) but we could not read the reply: the slot moved on.
            _slots.Release(slot, advanced: true);
            throw;
        }
        catch (RpcException)
        {
            _slots.Release(slot, advanced: false); // refused at the RPC level: the SEQUENCE never ran
            throw;
        }
        catch
        {
            _slots.Retire(slot);
            throw;
        }
        // §2.10.6.1: the slot's seqid advances only when SEQUENCE itself succeeded.
        bool advanced = reply.Results.Count > 0 && reply.Results[0] is SequenceResult { IsOk: true } s && Record(s);
        _slots.Release(slot, advanced);
        return reply;
    }

    private bool Record(SequenceResult s)
    {
        LastSequenceStatusFlags = s.StatusFlags;
        return true;
    }

    /// <summary>A SEQUENCE alone: renews the lease (§8.3) and reports the server's status flags.</summary>
    public async Task<NfsStat4> RenewAsync(CancellationToken cancellationToken = default)
    {
        using var empty = new CompoundBuilder("renew") { MinorVersion = _options.MinorVersion };
        return (await CompoundAsync(empty, cancellationToken).ConfigureAwait(false)).Status;
    }

    /// <summary>Renews the lease every lease_time/3 until cancelled or the connection closes.</summary>
    public async Task RunLeaseRenewalAsync(CancellationToken cancellationToken)
    {
        var interval = TimeSpan.FromSeconds(Math.Max(1, LeaseTimeSeconds / 3.0));
        using var timer = new PeriodicTimer(interval, _options.TimeProvider);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
                await RenewAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (IOException)
        {
            // The connection closed: nothing left to renew.
        }
    }

    // --- Helpers used by tests and the load generator. Each is one compound. ---

    /// <summary>PUTROOTFH, one LOOKUP per component of <paramref name="path"/>, GETFH.</summary>
    public async Task<Nfs4Result<FileHandle>> LookupPathAsync(string path, CancellationToken cancellationToken = default)
    {
        using var c = new CompoundBuilder("lookup_path").PutRootFh().LookupPath(path).GetFh();
        var reply = await CompoundAsync(c, cancellationToken).ConfigureAwait(false);
        return Nfs4Result.From<FileHandle>(reply, reply.Find<GetFhResult>()?.FileHandle);
    }

    public async Task<Nfs4Result<FileHandle>> LookupAsync(FileHandle directory, string name, CancellationToken cancellationToken = default)
    {
        using var c = new CompoundBuilder("lookup").PutFh(directory).Lookup(name).GetFh();
        var reply = await CompoundAsync(c, cancellationToken).ConfigureAwait(false);
        return Nfs4Result.From<FileHandle>(reply, reply.Find<GetFhResult>()?.FileHandle);
    }

    public async Task<Nfs4Result<FileAttributes>> GetAttrAsync(FileHandle fh, AttrBitmap? attrs = null, CancellationToken cancellationToken = default)
    {
        using var c = new CompoundBuilder("getattr").PutFh(fh).GetAttr(attrs ?? AttrBitmap.Basic);
        var reply = await CompoundAsync(c, cancellationToken).ConfigureAwait(false);
        return Nfs4Result.From<FileAttributes>(reply, reply.Find<GetAttrResult>()?.Attributes);
    }

    public async Task<Nfs4Result<AttrBitmap>> SetAttrAsync(FileHandle fh, SetAttributes attrs, StateId stateId = default,
        CancellationToken cancellationToken = default)
    {
        using var c = new CompoundBuilder("setattr").PutFh(fh).SetAttr(attrs, stateId);
        var reply = await CompoundAsync(c, cancellationToken).ConfigureAwait(false);
        return Nfs4Result.From<AttrBitmap>(reply, reply.Find<SetAttrResult>()?.AttrsSet);
    }

    /// <summary>
    /// PUTFH dir, OPEN (CLAIM_NULL) <paramref name="name"/>, GETFH, and GETATTR when <paramref name="attrs"/> is given.
    /// Uses <see cref="OpenOwner"/> unless <paramref name="owner"/> is given.
    /// </summary>
    public async Task<Nfs4Result<OpenedFile>> OpenAsync(FileHandle directory, string name, ShareAccess access,
        OpenHow? how = null, ShareDeny deny = ShareDeny.None, StateOwner? owner = null, AttrBitmap? attrs = null,
        CancellationToken cancellationToken = default)
    {
        using var c = new CompoundBuilder("open").PutFh(directory)
            .Open(OpenClaim.ByName(name), access, deny, owner ?? OpenOwner, how).GetFh();
        if (attrs is not null)
            c.GetAttr(attrs);
        return ToOpened(await CompoundAsync(c, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>OPEN with CLAIM_FH: open a file already known by handle.</summary>
    public async Task<Nfs4Result<OpenedFile>> OpenAsync(FileHandle file, ShareAccess access, ShareDeny deny = ShareDeny.None,
        StateOwner? owner = null, CancellationToken cancellationToken = default)
    {
        using var c = new CompoundBuilder("open_fh").PutFh(file).Open(OpenClaim.Fh, access, deny, owner ?? OpenOwner).GetFh();
        return ToOpened(await CompoundAsync(c, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>
    /// PUTFH <paramref name="current"/>, OPEN with any <paramref name="claim"/> (the directory for the by-name claims, the
    /// file for the others), GETFH. What a client returning a recalled delegation sends (CLAIM_DELEG_CUR_FH,
    /// CLAIM_DELEGATE_CUR, RFC 8881 §10.4.5).
    /// </summary>
    public async Task<Nfs4Result<OpenedFile>> OpenAsync(FileHandle current, OpenClaim claim, ShareAccess access, ShareDeny deny = ShareDeny.None,
        StateOwner? owner = null, OpenHow? how = null, CancellationToken cancellationToken = default)
    {
        using var c = new CompoundBuilder("open_claim").PutFh(current).Open(claim, access, deny, owner ?? OpenOwner, how).GetFh();
        return ToOpened(await CompoundAsync(c, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>Creates (or, with <paramref name="guarded"/> false, opens if present) a regular file, opened for read and write.</summary>
    public Task<Nfs4Result<OpenedFile>> CreateAsync(FileHandle directory, string name, SetAttributes? attrs = null,
        bool guarded = false, StateOwner? owner = null, CancellationToken cancellationToken = default) =>
        OpenAsync(directory, name, ShareAccess.Both, guarded ? OpenHow.Guarded(attrs) : OpenHow.Unchecked(attrs), ShareDeny.None,
            owner, AttrBitmap.Basic, cancellationToken);

    private static Nfs4Result<OpenedFile> ToOpened(CompoundReply reply)
    {
        if (!reply.IsOk)
            return Nfs4Result.From<OpenedFile>(reply, null);
        var open = reply.Get<OpenResult>();
        var fh = reply.Get<GetFhResult>().FileHandle!;
        return new Nfs4Result<OpenedFile>(NfsStat4.Ok, new OpenedFile(fh, open.StateId, open.Delegation ?? Delegation.None,
            open.ChangeInfo, open.ResultFlags, reply.Find<GetAttrResult>()?.Attributes));
    }

    public async Task<Nfs4Result<StateId>> CloseAsync(FileHandle fh, StateId openStateId, CancellationToken cancellationToken = default)
    {
        using var c = new CompoundBuilder("close").PutFh(fh).Close(openStateId);
        var reply = await CompoundAsync(c, cancellationToken).ConfigureAwait(false);
        return Nfs4Result.From<StateId>(reply, reply.Find<StateIdResult>()?.StateId ?? default);
    }

    public async Task<Nfs4Result<StateId>> OpenDowngradeAsync(FileHandle fh, StateId openStateId, ShareAccess access,
        ShareDeny deny = ShareDeny.None, CancellationToken cancellationToken = default)
    {
        using var c = new CompoundBuilder("open_downgrade").PutFh(fh).OpenDowngrade(openStateId, access, deny);
        var reply = await CompoundAsync(c, cancellationToken).ConfigureAwait(false);
        return Nfs4Result.From<StateId>(reply, reply.Find<StateIdResult>()?.StateId ?? default);
    }

    public async Task<Nfs4Result<ReadResult>> ReadAsync(FileHandle fh, StateId stateId, ulong offset, uint count,
        CancellationToken cancellationToken = default)
    {
        using var c = new CompoundBuilder("read").PutFh(fh).Read(stateId, offset, count);
        var reply = await CompoundAsync(c, cancellationToken).ConfigureAwait(false);
        return Nfs4Result.From<ReadResult>(reply, reply.Find<ReadResult>());
    }

    public async Task<Nfs4Result<WriteResult>> WriteAsync(FileHandle fh, StateId stateId, ulong offset, ReadOnlyMemory<byte> data,
        StableHow stable = StableHow.FileSync, CancellationToken cancellationToken = default)
    {
        using var c = new CompoundBuilder("write").PutFh(fh).Write(stateId, offset, data.Span, stable);
        var reply = await CompoundAsync(c, cancellationToken).ConfigureAwait(false);
        return Nfs4Result.From<WriteResult>(reply, reply.Find<WriteResult>());
    }

    public async Task<Nfs4Result<ulong>> CommitAsync(FileHandle fh, ulong offset = 0, uint count = 0, CancellationToken cancellationToken = default)
    {
        using var c = new CompoundBuilder("commit").PutFh(fh).Commit(offset, count);
        var reply = await CompoundAsync(c, cancellationToken).ConfigureAwait(false);
        return Nfs4Result.From<ulong>(reply, reply.Find<CommitResult>()?.Verifier ?? 0);
    }

    public async Task<Nfs4Result<ChangeInfo>> RemoveAsync(FileHandle directory, string name, CancellationToken cancellationToken = default)
    {
        using var c = new CompoundBuilder("remove").PutFh(directory).Remove(name);
        var reply = await CompoundAsync(c, cancellationToken).ConfigureAwait(false);
        return Nfs4Result.From<ChangeInfo>(reply, reply.Find<ChangeInfoResult>()?.ChangeInfo ?? default);
    }

    /// <summary>PUTFH source dir, SAVEFH, PUTFH target dir, RENAME.</summary>
    public async Task<Nfs4Result<RenameResult>> RenameAsync(FileHandle sourceDirectory, string oldName, FileHandle targetDirectory,
        string newName, CancellationToken cancellationToken = default)
    {
        using var c = new CompoundBuilder("rename").PutFh(sourceDirectory).SaveFh().PutFh(targetDirectory).Rename(oldName, newName);
        var reply = await CompoundAsync(c, cancellationToken).ConfigureAwait(false);
        return Nfs4Result.From<RenameResult>(reply, reply.Find<RenameResult>());
    }

    /// <summary>PUTFH file, SAVEFH, PUTFH dir, LINK.</summary>
    public async Task<Nfs4Result<ChangeInfo>> LinkAsync(FileHandle file, FileHandle directory, string newName,
        CancellationToken cancellationToken = default)
    {
        using var c = new CompoundBuilder("link").PutFh(file).SaveFh().PutFh(directory).Link(newName);
        var reply = await CompoundAsync(c, cancellationToken).ConfigureAwait(false);
        return Nfs4Result.From<ChangeInfo>(reply, reply.Find<ChangeInfoResult>()?.ChangeInfo ?? default);
    }

    /// <summary>CREATE a directory and return its filehandle.</summary>
    public async Task<Nfs4Result<FileHandle>> MkdirAsync(FileHandle directory, string name, SetAttributes? attrs = null,
        CancellationToken cancellationToken = default)
    {
        using var c = new CompoundBuilder("mkdir").PutFh(directory).CreateDirectory(name, attrs).GetFh();
        var reply = await CompoundAsync(c, cancellationToken).ConfigureAwait(false);
        return Nfs4Result.From<FileHandle>(reply, reply.Find<GetFhResult>()?.FileHandle);
    }

    public async Task<Nfs4Result<FileHandle>> SymlinkAsync(FileHandle directory, string name, string target,
        CancellationToken cancellationToken = default)
    {
        using var c = new CompoundBuilder("symlink").PutFh(directory).CreateSymlink(name, target).GetFh();
        var reply = await CompoundAsync(c, cancellationToken).ConfigureAwait(false);
        return Nfs4Result.From<FileHandle>(reply, reply.Find<GetFhResult>()?.FileHandle);
    }

    public async Task<Nfs4Result<string>> ReadLinkAsync(FileHandle link, CancellationToken cancellationToken = default)
    {
        using var c = new CompoundBuilder("readlink").PutFh(link).ReadLink();
        var reply = await CompoundAsync(c, cancellationToken).ConfigureAwait(false);
        return Nfs4Result.From<string>(reply, reply.Find<ReadLinkResult>()?.Target);
    }

    /// <summary>Every entry of a directory: READDIR until eof, following cookies (at most <paramref name="maxRounds"/> round trips).</summary>
    public async Task<Nfs4Result<IReadOnlyList<DirectoryEntry>>> ReadDirAsync(FileHandle directory, AttrBitmap? attrs = null,
        int maxRounds = 10_000, CancellationToken cancellationToken = default)
    {
        var entries = new List<DirectoryEntry>();
        ulong cookie = 0, verifier = 0;
        for (int round = 0; round < maxRounds; round++)
        {
            using var c = new CompoundBuilder("readdir").PutFh(directory)
                .ReadDir(cookie, verifier, ReadDirDirCount, ReadDirMaxCount, attrs ?? AttrBitmap.Of(FileAttr.Type, FileAttr.FileId));
            var reply = await CompoundAsync(c, cancellationToken).ConfigureAwait(false);
            if (!reply.IsOk)
                return new Nfs4Result<IReadOnlyList<DirectoryEntry>>(reply.Status, null, reply.Failed?.Op);
            var result = reply.Get<ReadDirResult>();
            entries.AddRange(result.Entries);
            if (result.Eof || result.Entries.Count == 0)
                return new Nfs4Result<IReadOnlyList<DirectoryEntry>>(NfsStat4.Ok, entries);
            cookie = result.Entries[^1].Cookie;
            verifier = result.CookieVerifier;
        }
        throw new IOException($"READDIR did not reach eof within {maxRounds} round trips.");
    }

    public async Task<Nfs4Result<AccessResult>> AccessAsync(FileHandle fh, AccessBits access, CancellationToken cancellationToken = default)
    {
        using var c = new CompoundBuilder("access").PutFh(fh).Access(access);
        var reply = await CompoundAsync(c, cancellationToken).ConfigureAwait(false);
        return Nfs4Result.From<AccessResult>(reply, reply.Find<AccessResult>());
    }

    /// <summary>LOCK; the result has the lock stateid, or who holds the conflicting lock when the status is DENIED.</summary>
    public async Task<LockResult> LockAsync(FileHandle fh, LockType type, ulong offset, ulong length, Locker locker,
        CancellationToken cancellationToken = default)
    {
        using var c = new CompoundBuilder("lock").PutFh(fh).Lock(type, offset, length, locker);
        var reply = await CompoundAsync(c, cancellationToken).ConfigureAwait(false);
        return reply.Find<LockResult>() ?? new LockResult(reply.Status, default, null);
    }

    public async Task<LockTResult> LockTestAsync(FileHandle fh, LockType type, ulong offset, ulong length, StateOwner owner,
        CancellationToken cancellationToken = default)
    {
        using var c = new CompoundBuilder("lockt").PutFh(fh).LockT(type, offset, length, owner);
        var reply = await CompoundAsync(c, cancellationToken).ConfigureAwait(false);
        return reply.Find<LockTResult>() ?? new LockTResult(reply.Status, null);
    }

    public async Task<Nfs4Result<StateId>> UnlockAsync(FileHandle fh, LockType type, StateId lockStateId, ulong offset, ulong length,
        CancellationToken cancellationToken = default)
    {
        using var c = new CompoundBuilder("locku").PutFh(fh).LockU(type, lockStateId, offset, length);
        var reply = await CompoundAsync(c, cancellationToken).ConfigureAwait(false);
        return Nfs4Result.From<StateId>(reply, reply.Find<StateIdResult>()?.StateId ?? default);
    }

    public async Task<Nfs4Result<IReadOnlyList<NfsStat4>>> TestStateIdAsync(StateId[] stateIds, CancellationToken cancellationToken = default)
    {
        using var c = new CompoundBuilder("test_stateid").TestStateId(stateIds);
        var reply = await CompoundAsync(c, cancellationToken).ConfigureAwait(false);
        return Nfs4Result.From<IReadOnlyList<NfsStat4>>(reply, reply.Find<TestStateIdResult>()?.StatusCodes);
    }

    public async Task<NfsStat4> FreeStateIdAsync(StateId stateId, CancellationToken cancellationToken = default)
    {
        using var c = new CompoundBuilder("free_stateid").FreeStateId(stateId);
        return (await CompoundAsync(c, cancellationToken).ConfigureAwait(false)).Status;
    }

    public async Task<NfsStat4> DelegReturnAsync(FileHandle fh, StateId delegation, CancellationToken cancellationToken = default)
    {
        using var c = new CompoundBuilder("delegreturn").PutFh(fh).DelegReturn(delegation);
        return (await CompoundAsync(c, cancellationToken).ConfigureAwait(false)).Status;
    }

    /// <summary>
    /// DESTROY_SESSION and DESTROY_CLIENTID (best effort, bounded by the RPC call timeout), then closes the connection.
    /// Errors on the way out are ignored: the server will expire whatever is left with the lease.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_renewal is not null)
            await _renewal.ConfigureAwait(false);
        if (_rpc.State == RpcClientState.Open && ClientId != 0)
        {
            try
            {
                if (SessionId != default)
                {
                    using var ds = new CompoundBuilder("destroy_session") { MinorVersion = _options.MinorVersion }.DestroySession(SessionId);
                    await SendAsync(ds).ConfigureAwait(false);
                }
                using var dc = new CompoundBuilder("destroy_clientid") { MinorVersion = _options.MinorVersion }.DestroyClientId(ClientId);
                await SendAsync(dc).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or TimeoutException or RpcException or XdrException)
            {
                // Leaving anyway; see the summary.
            }
        }
        await _rpc.DisposeAsync().ConfigureAwait(false);
        _stopping.Dispose();
        _slots.Dispose();
    }
}
