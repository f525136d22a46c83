using Leasehold.Nfs4.Callbacks;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Xdr;
using Microsoft.Extensions.Logging;

namespace Leasehold.Nfs4.Ops;

/// <summary>CREATE_SESSION4args; <paramref name="Security"/> is the callback security chosen from csa_sec_parms (null: none acceptable).</summary>
internal sealed record CreateSessionArgs(ulong ClientId, uint Sequence, uint Flags, ChannelAttributes Fore, ChannelAttributes Back, uint CallbackProgram,
    CallbackSecurity? Security);

/// <summary>The encoded CREATE_SESSION4resok, kept as bytes: a retransmission must get exactly the same answer (§18.36.4).</summary>
internal sealed record CreateSessionResult(byte[] Encoded);

/// <summary>
/// CREATE_SESSION, RFC 8881 §18.36: confirms the client and negotiates the session's channels. With
/// CREATE_SESSION4_FLAG_CONN_BACK_CHAN the connection is bound to the back channel too, and probed with CB_NULL
/// (asynchronously: the reply never waits for the client). Errors: NFS4ERR_ENCR_ALG_UNSUPP when csa_sec_parms offers
/// neither AUTH_NONE nor AUTH_SYS (knfsd's <c>nfsd4_check_cb_sec</c>); NFS4ERR_TOOSMALL when a channel cannot carry a
/// COMPOUND with its SEQUENCE, or the back channel allows fewer than 2 operations (CB_SEQUENCE and one more).
/// </summary>
internal sealed class CreateSessionOp : INfsOp<CreateSessionArgs, CreateSessionResult>
{
    public static readonly CreateSessionOp Instance = new();

    private const uint FlagConnBackChannel = 0x2;
    /// <summary>Below this no COMPOUND with a SEQUENCE (or CB_COMPOUND with a CB_SEQUENCE) can be sent or answered.</summary>
    private const uint MinMessageSize = 128;
    private const uint KnownFlags = 0x7; // PERSIST, CONN_BACK_CHAN, CONN_RDMA
    /// <summary>CB_SEQUENCE and one operation (knfsd's <c>check_backchannel_attrs</c>).</summary>
    private const uint MinBackChannelOperations = 2;
    /// <summary>Back-channel slots granted at most: callbacks of one session in flight at once.</summary>
    private const uint MaxBackChannelSlots = 16;

    public static NfsOpcode Opcode => NfsOpcode.CreateSession;

    public static CreateSessionArgs Decode(ref XdrReader r)
    {
        ulong clientId = r.ReadUInt64();
        uint sequence = r.ReadUInt32();
        uint flags = r.ReadUInt32();
        var fore = ReadChannel(ref r);
        var back = ReadChannel(ref r);
        uint program = r.ReadUInt32();
        var security = CallbackSecurity.Read(ref r);
        return new CreateSessionArgs(clientId, sequence, flags, fore, back, program, security);
    }

    private static ChannelAttributes ReadChannel(ref XdrReader r)
    {
        var attrs = new ChannelAttributes(r.ReadUInt32(), r.ReadUInt32(), r.ReadUInt32(), r.ReadUInt32(), r.ReadUInt32(), r.ReadUInt32());
        int ird = r.ReadArrayCount(1);
        r.Skip(ird * 4);
        return attrs;
    }

    public ValueTask<OpResult<CreateSessionResult>> ExecuteAsync(CompoundContext ctx, CreateSessionArgs args, CancellationToken cancellationToken) =>
        ValueTask.FromResult(Execute(ctx, args));

    private static OpResult<CreateSessionResult> Execute(CompoundContext ctx, CreateSessionArgs args)
    {
        var clients = ctx.Server.Clients;
        var status = clients.BeginCreateSession(args.ClientId, args.Sequence, ExchangeIdOp.PrincipalOf(ctx), out var client, out var check);
        if (status != NfsStat4.Ok)
            return status;
        if (check == ClientTable.CreateSessionCheck.Replay)
            return OpResult<CreateSessionResult>.Ok(new CreateSessionResult(client!.CachedCreateSessionReply!));
        if ((args.Flags & ~KnownFlags) != 0)
            return NfsStat4.Inval;
        // Channel attributes first, then callback security, in knfsd's order (check_forechannel_attrs,
        // check_backchannel_attrs, nfsd4_check_cb_sec).
        if (args.Fore.MaxRequestSize < MinMessageSize || args.Fore.MaxResponseSize < MinMessageSize
            || args.Back.MaxRequestSize < MinMessageSize || args.Back.MaxResponseSize < MinMessageSize || args.Fore.MaxRequests == 0
            || args.Back.MaxOperations < MinBackChannelOperations)
            return NfsStat4.TooSmall;
        if (args.Security is not { } security)
            return NfsStat4.EncrAlgUnsupp;

        var options = ctx.Server.Options;
        uint maxMessage = (uint)options.MaxReadWriteSize + 16 * 1024; // a full READ or WRITE plus its COMPOUND
        var fore = new ChannelAttributes(
            HeaderPadSize: 0,
            MaxRequestSize: Math.Min(args.Fore.MaxRequestSize, maxMessage),
            MaxResponseSize: Math.Min(args.Fore.MaxResponseSize, maxMessage),
            MaxResponseSizeCached: Math.Min(args.Fore.MaxResponseSizeCached, (uint)options.MaxCachedReplySize),
            MaxOperations: Math.Clamp(args.Fore.MaxOperations, 2, (uint)options.MaxOperationsPerCompound),
            MaxRequests: Math.Clamp(args.Fore.MaxRequests, 1, (uint)options.MaxSessionSlots));
        // We never send csa_cachethis, so no callback reply needs caching.
        var back = args.Back with { HeaderPadSize = 0, MaxResponseSizeCached = 0, MaxRequests = Math.Clamp(args.Back.MaxRequests, 1, MaxBackChannelSlots) };
        uint flags = args.Flags & FlagConnBackChannel; // never persistent; the back channel rides on this connection if asked

        var server = ctx.Server;
        var session = clients.CreateSession(client!, fore,
            id => new BackChannel(id, client!.ClientId, back, args.CallbackProgram, security, server.Options.CallbackTimeout, server.Logger,
                usable: () => server.Recalls.Resume(client), minorVersion: ctx.MinorVersion));
        session.BindFore(ctx.Call.Connection);
        if ((flags & FlagConnBackChannel) != 0)
        {
            session.Back.Bind(ctx.Call.Connection);
            _ = session.Back.ProbeAsync(); // bounded by CallbackTimeout; never awaited by a fore-channel operation
        }
        Log.SessionCreated(ctx.Server.Logger, client!.ClientId, session.IdHex, fore.MaxRequests);

        using var w = new XdrWriter(256);
        w.WriteFixedOpaque(session.Id);
        w.WriteUInt32(args.Sequence);
        w.WriteUInt32(flags);
        WriteChannel(w, fore);
        WriteChannel(w, back);
        var encoded = w.WrittenSpan.ToArray();
        clients.CacheCreateSessionReply(client, encoded);
        return OpResult<CreateSessionResult>.Ok(new CreateSessionResult(encoded));
    }

    private static void WriteChannel(XdrWriter w, ChannelAttributes c)
    {
        w.WriteUInt32(c.HeaderPadSize);
        w.WriteUInt32(c.MaxRequestSize);
        w.WriteUInt32(c.MaxResponseSize);
        w.WriteUInt32(c.MaxResponseSizeCached);
        w.WriteUInt32(c.MaxOperations);
        w.WriteUInt32(c.MaxRequests);
        w.WriteUInt32(0); // ca_rdma_ird<1>: none
    }

    public static void Encode(in OpResult<CreateSessionResult> result, XdrWriter w)
    {
        if (result.Value is { } v)
        {
            v.Encoded.CopyTo(w.GetSpan(v.Encoded.Length));
            w.Advance(v.Encoded.Length);
        }
    }
}
