using System.Buffers.Binary;
using Leasehold.Export;
using Leasehold.Nfs4.Ops;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Messages;
using Leasehold.Rpc.Server;
using Leasehold.Rpc.Xdr;
using Microsoft.Extensions.Logging;

namespace Leasehold.Nfs4.Compound;

/// <summary>
/// NFS program 100003 version 4: the COMPOUND procedure. The compound rules live here and nowhere else: the minor
/// version, where SEQUENCE may stand, which operations may run outside a session, stopping at the first failure, the
/// reply cache, and one error boundary that turns a bug into NFS4ERR_SERVERFAULT. Operations are picked by one flat
/// switch, without reflection.
/// </summary>
internal sealed partial class Nfs4Program(Nfs4Server server) : IRpcProgram
{
    public const uint NfsProgram = 100003;
    private const uint ProcCompound = 1;
    private const int MaxTag = 1024;

    public uint Program => NfsProgram;

    public uint LowVersion => 4;

    public uint HighVersion => 4;

    public async ValueTask<AcceptStat> HandleAsync(RpcCall call, XdrWriter results, CancellationToken cancellationToken)
    {
        if (call.Procedure != ProcCompound)
            return AcceptStat.ProcUnavail;

        // COMPOUND4args header: tag, minorversion, argarray count. A header that does not decode is GARBAGE_ARGS.
        var r = new XdrReader(call.Arguments.Span);
        var tag = r.ReadOpaque(MaxTag).ToArray();
        uint minorVersion = r.ReadUInt32();
        int count = r.ReadArrayCount(int.MaxValue, minElementSize: 4);
        int position = r.Position;

        int compoundStart = results.Position;
        int statusAt = results.ReserveUInt32();
        results.WriteOpaque(tag);
        int countAt = results.ReserveUInt32();

        if (minorVersion is not (1 or 2))
        {
            // Minor version 0 has no sessions and is not served (NFS4ERR_MINOR_VERS_MISMATCH, RFC 8881 §15.1.3.3).
            results.PatchUInt32(statusAt, (uint)NfsStat4.MinorVersMismatch);
            server.Metrics.Compound(minorVersion, NfsStat4.MinorVersMismatch);
            return AcceptStat.Success;
        }

        var ctx = new CompoundContext(server, call, ToCaller(call.Credentials), count, minorVersion);
        var metrics = server.Metrics;
        var status = NfsStat4.Ok;
        int done = 0;
        bool replayed = false;
        int sequenceEnd = -1; // where SEQUENCE's result ends in the reply, once it has run
        long clock = metrics.OperationClock(); // the start of the operation under way (0: durations not measured)
        try
        {
            for (int i = 0; i < count; i++)
            {
                ctx.OperationIndex = i;
                var opReader = new XdrReader(call.Arguments.Span[position..]);
                uint opnum = opReader.ReadUInt32();
                position += 4;

                var order = CheckPosition((NfsOpcode)opnum, i, count, ctx);
                if (order != NfsStat4.Ok)
                {
                    status = WriteBare(results, (NfsOpcode)opnum, order);
                    metrics.Operation(ReplyOpcode(opnum, minorVersion), order);
                    done++;
                    break;
                }

                int opStart = results.Position;
                (status, position) = await DispatchAsync(opnum, ctx, call.Arguments, position, results, cancellationToken).ConfigureAwait(false);
                done++;
                if (i == 0 && opnum == (uint)NfsOpcode.Sequence)
                    sequenceEnd = results.Position;
                if (status == NfsStat4.Ok && (NfsOpcode)opnum is NfsOpcode.Sequence or NfsOpcode.CreateSession or NfsOpcode.BindConnToSession)
                    call.Connection.MarkBound(); // idle timeouts and the connection limit spare connections that carry a session

                if (ctx.ReplayReply is { } cached)
                {
                    // A retransmission: answer with exactly what was sent the first time (§2.10.6.1.1).
                    metrics.Operation(opnum, status, ref clock);
                    metrics.Compound(minorVersion, (NfsStat4)BinaryPrimitives.ReadUInt32BigEndian(cached));
                    replayed = true;
                    results.Truncate(compoundStart);
                    cached.CopyTo(results.GetSpan(cached.Length));
                    results.Advance(cached.Length);
                    return AcceptStat.Success;
                }
                if (ctx.Session is { } session && status == NfsStat4.Ok)
                {
                    // §18.46.3: a reply that outgrows what the client can take (or what we may cache for it) fails here.
                    int size = results.Position - compoundStart;
                    var tooBig = size > session.Fore.MaxResponseSize ? NfsStat4.RepTooBig
                        : ctx.CacheThis && size > session.Fore.MaxResponseSizeCached ? NfsStat4.RepTooBigToCache
                        : NfsStat4.Ok;
                    if (tooBig != NfsStat4.Ok && opnum != (uint)NfsOpcode.Sequence)
                    {
                        results.Truncate(opStart);
                        status = WriteBare(results, (NfsOpcode)opnum, tooBig);
                    }
                }
                metrics.Operation(ReplyOpcode(opnum, minorVersion), status, ref clock);
                if (status != NfsStat4.Ok)
                    break;
            }
        }
        finally
        {
            if (!replayed)
            {
                results.PatchUInt32(statusAt, (uint)status);
                results.PatchUInt32(countAt, (uint)done);
                ReleaseSlot(ctx, results, compoundStart, sequenceEnd, tag);
            }
        }
        metrics.Compound(minorVersion, status);
        return AcceptStat.Success;
    }

    /// <summary>The operation a reply names (for the metrics): OP_ILLEGAL for a 4.2 operation in a 4.1 COMPOUND, as answered.</summary>
    private static uint ReplyOpcode(uint opnum, uint minorVersion) =>
        minorVersion < 2 && opnum is >= (uint)NfsOpcode.Allocate and <= (uint)NfsOpcode.RemoveXattr ? (uint)NfsOpcode.Illegal : opnum;

    /// <summary>RFC 8881 §2.10.6.4 and §18.46.3: SEQUENCE first, and only these operations may run without it, alone.</summary>
    private static NfsStat4 CheckPosition(NfsOpcode op, int index, int count, CompoundContext ctx)
    {
        if (op == NfsOpcode.Sequence)
            return index == 0 ? NfsStat4.Ok : NfsStat4.SequencePos;
        if (index > 0)
            return ctx.Session is null && !IsSessionless(op) ? NfsStat4.OpNotInSession : NfsStat4.Ok;
        if (!IsSessionless(op))
            return op is NfsOpcode.Illegal || !Enum.IsDefined(op) ? NfsStat4.Ok : NfsStat4.OpNotInSession;
        return count == 1 ? NfsStat4.Ok : NfsStat4.NotOnlyOp;
    }

    private static bool IsSessionless(NfsOpcode op) =>
        op is NfsOpcode.ExchangeId or NfsOpcode.CreateSession or NfsOpcode.DestroySession
            or NfsOpcode.BindConnToSession or NfsOpcode.DestroyClientId;

    /// <summary>
    /// Keeps in the slot what RFC 8881 §2.10.6.1.3 asks for, and frees the slot for the next request. With
    /// sa_cachethis the whole COMPOUND4res, which the size checks above kept within ca_maxresponsesize_cached. Without
    /// it (or if the reply still does not fit), only what a retry must get: a solo SEQUENCE's reply in full; otherwise
    /// the SEQUENCE result followed by the second operation failing with NFS4ERR_RETRY_UNCACHED_REP, as knfsd and
    /// illumos answer a retry of an uncached request. So a slot never holds more than the negotiated size, plus a
    /// SEQUENCE reply of about a hundred bytes.
    /// </summary>
    private static void ReleaseSlot(CompoundContext ctx, XdrWriter results, int compoundStart, int sequenceEnd, byte[] tag)
    {
        if (ctx.Slot is not { } slot || ctx.Session is not { } session)
            return;
        var written = results.WrittenSpan[compoundStart..];
        int sequenceLength = sequenceEnd - compoundStart;
        lock (session.Sync)
        {
            if (sequenceEnd < 0)
                slot.ClearCachedReply(); // cannot happen (a slot is held only after SEQUENCE ran); a retry would get RETRY_UNCACHED_REP
            else if ((ctx.CacheThis && written.Length <= session.Fore.MaxResponseSizeCached) || written.Length == sequenceLength)
                written.CopyTo(slot.CacheReply(written.Length));
            else
                WriteUncachedReply(slot, tag, written[HeaderLength(tag)..sequenceLength], written[sequenceLength..]);
            slot.InUse = false;
        }
    }

    /// <summary>COMPOUND4res up to its operation results: status, tag, count.</summary>
    private static int HeaderLength(byte[] tag) => 4 + 4 + XdrReader.Padded(tag.Length) + 4;

    /// <summary>
    /// Caches in the slot the reply a retry of an uncached request gets: status NFS4ERR_RETRY_UNCACHED_REP, the original
    /// SEQUENCE result, and the original second operation with NFS4ERR_RETRY_UNCACHED_REP.
    /// </summary>
    private static void WriteUncachedReply(Slot slot, byte[] tag, ReadOnlySpan<byte> sequenceResult, ReadOnlySpan<byte> rest)
    {
        var reply = slot.CacheReply(HeaderLength(tag) + sequenceResult.Length + 8);
        reply.Clear(); // the tag's padding
        BinaryPrimitives.WriteUInt32BigEndian(reply, (uint)NfsStat4.RetryUncachedRep);
        BinaryPrimitives.WriteUInt32BigEndian(reply[4..], (uint)tag.Length);
        tag.CopyTo(reply[8..]);
        int at = 8 + XdrReader.Padded(tag.Length);
        BinaryPrimitives.WriteUInt32BigEndian(reply[at..], 2);
        sequenceResult.CopyTo(reply[(at + 4)..]);
        at += 4 + sequenceResult.Length;
        BinaryPrimitives.WriteUInt32BigEndian(reply[at..], BinaryPrimitives.ReadUInt32BigEndian(rest)); // the second operation's opcode
        BinaryPrimitives.WriteUInt32BigEndian(reply[(at + 4)..], (uint)NfsStat4.RetryUncachedRep);
    }

    private static NfsStat4 WriteBare(XdrWriter w, NfsOpcode op, NfsStat4 status)
    {
        w.WriteUInt32((uint)op);
        w.WriteUInt32((uint)status);
        return status;
    }

    private ValueTask<(NfsStat4, int)> DispatchAsync(uint opnum, CompoundContext ctx, ReadOnlyMemory<byte> args, int position, XdrWriter w, CancellationToken ct) =>
        (NfsOpcode)opnum switch
        {
            NfsOpcode.ExchangeId => RunAsync<ExchangeIdOp, ExchangeIdArgs, ExchangeIdResult>(ExchangeIdOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.CreateSession => RunAsync<CreateSessionOp, CreateSessionArgs, CreateSessionResult>(CreateSessionOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.Sequence => RunAsync<SequenceOp, SequenceArgs, SequenceResult>(SequenceOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.DestroySession => RunAsync<DestroySessionOp, byte[], Unit>(DestroySessionOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.DestroyClientId => RunAsync<DestroyClientIdOp, ulong, Unit>(DestroyClientIdOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.ReclaimComplete => RunAsync<ReclaimCompleteOp, bool, Unit>(ReclaimCompleteOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.PutRootFh => RunAsync<PutRootFhOp, Unit, Unit>(PutRootFhOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.PutPubFh => RunAsync<PutPubFhOp, Unit, Unit>(PutPubFhOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.PutFh => RunAsync<PutFhOp, ReadOnlyMemory<byte>, Unit>(PutFhOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.GetFh => RunAsync<GetFhOp, Unit, FileHandle>(GetFhOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.SaveFh => RunAsync<SaveFhOp, Unit, Unit>(SaveFhOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.RestoreFh => RunAsync<RestoreFhOp, Unit, Unit>(RestoreFhOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.Lookup => RunAsync<LookupOp, byte[], Unit>(LookupOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.LookupP => RunAsync<LookupPOp, Unit, Unit>(LookupPOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.GetAttr => RunAsync<GetAttrOp, uint[], GetAttrResult>(GetAttrOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.Access => RunAsync<AccessOp, uint, (uint, uint)>(AccessOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.Open => RunAsync<OpenOp, OpenArgs, OpenResult>(OpenOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.Close => RunAsync<CloseOp, StateId, StateId>(CloseOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.OpenDowngrade => RunAsync<OpenDowngradeOp, OpenDowngradeArgs, StateId>(OpenDowngradeOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.Read => RunAsync<ReadOp, ReadArgs, ReadResult>(ReadOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.Write => RunAsync<WriteOp, WriteArgs, (int, Export.WriteStability, ulong)>(WriteOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.Commit => RunAsync<CommitOp, (ulong, uint), ulong>(CommitOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.Create => RunAsync<CreateOp, CreateArgs, (ChangeInfo, uint[])>(CreateOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.Remove => RunAsync<RemoveOp, byte[], ChangeInfo>(RemoveOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.Rename => RunAsync<RenameOp, (byte[], byte[]), (ChangeInfo, ChangeInfo)>(RenameOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.Link => RunAsync<LinkOp, byte[], ChangeInfo>(LinkOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.ReadLink => RunAsync<ReadLinkOp, Unit, byte[]>(ReadLinkOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.SetAttr => RunAsync<SetAttrOp, SetAttrArgs, uint[]>(SetAttrOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.ReadDir => RunAsync<ReadDirOp, ReadDirArgs, ReadDirResult>(ReadDirOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.SecInfoNoName => RunAsync<SecInfoNoNameOp, uint, Unit>(SecInfoNoNameOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.SecInfo => RunAsync<SecInfoOp, byte[], Unit>(SecInfoOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.Verify => RunAsync<VerifyOp, (uint[], byte[]), Unit>(VerifyOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.NVerify => RunAsync<NVerifyOp, (uint[], byte[]), Unit>(NVerifyOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.TestStateId => RunAsync<TestStateIdOp, StateId[], NfsStat4[]>(TestStateIdOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.FreeStateId => RunAsync<FreeStateIdOp, StateId, Unit>(FreeStateIdOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.DelegReturn => RunAsync<DelegReturnOp, StateId, Unit>(DelegReturnOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.BackchannelCtl => RunAsync<BackchannelCtlOp, BackchannelCtlArgs, Unit>(BackchannelCtlOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.BindConnToSession => RunAsync<BindConnToSessionOp, (byte[], uint, bool), (byte[], uint)>(BindConnToSessionOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.Lock => RunAsync<LockOp, LockArgs, LockResult>(LockOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.LockT => RunAsync<LockTOp, LockTestArgs, LockDenied?>(LockTOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.LockU => RunAsync<LockUOp, LockUArgs, StateId>(LockUOp.Instance, ctx, args, position, w, ct),
            // The operations of minor version 2 (RFC 7862 §16): outside a 4.2 COMPOUND they are not operations at all.
            >= NfsOpcode.Allocate and <= NfsOpcode.RemoveXattr when ctx.MinorVersion < 2 => new((WriteBare(w, NfsOpcode.Illegal, NfsStat4.OpIllegal), position)),
            NfsOpcode.Allocate or NfsOpcode.Deallocate or NfsOpcode.Seek or NfsOpcode.ReadPlus or NfsOpcode.IoAdvise =>
                DispatchSpaceAsync((NfsOpcode)opnum, ctx, args, position, w, ct),
            NfsOpcode.Copy or NfsOpcode.OffloadStatus or NfsOpcode.OffloadCancel or NfsOpcode.Clone =>
                DispatchCopyAsync((NfsOpcode)opnum, ctx, args, position, w, ct),
            NfsOpcode.GetXattr or NfsOpcode.SetXattr or NfsOpcode.ListXattrs or NfsOpcode.RemoveXattr =>
                DispatchXattrAsync((NfsOpcode)opnum, ctx, args, position, w, ct),
            NfsOpcode.Illegal => new((WriteBare(w, NfsOpcode.Illegal, NfsStat4.OpIllegal), position)),
            _ when Enum.IsDefined((NfsOpcode)opnum) => new((WriteBare(w, (NfsOpcode)opnum, NfsStat4.NotSupp), position)),
            // §15.2: an operation number outside the protocol is answered as OP_ILLEGAL.
            _ => new((WriteBare(w, NfsOpcode.Illegal, NfsStat4.OpIllegal), position)),
        };

    /// <summary>Decode, execute, encode: the shape every operation shares, with the one error boundary.</summary>
    private async ValueTask<(NfsStat4, int)> RunAsync<TOp, TArgs, TResult>(TOp op, CompoundContext ctx, ReadOnlyMemory<byte> args, int position, XdrWriter w, CancellationToken ct)
        where TOp : INfsOp<TArgs, TResult>
    {
        w.WriteUInt32((uint)TOp.Opcode);
        int statusAt = w.ReserveUInt32();
        int bodyAt = w.Position;
        OpResult<TResult> result;
        if (!TryDecode<TOp, TArgs, TResult>(args, ref position, out var decoded))
        {
            Log.BadXdr(server.Logger, TOp.Opcode.ToString(), ctx.Call.Connection.Id);
            result = NfsStat4.BadXdr;
        }
        else
        {
            try
            {
                // Replies are produced where the request was read: with inline socket completions (the host's default)
                // that is the socket's event thread, which serves other connections too. An operation that may wait on
                // the disk leaves it first; on a thread-pool thread there is nothing to leave.
                if (TOp.MayWaitOnDisk(decoded) && !Thread.CurrentThread.IsThreadPoolThread)
                    await Task.Yield();
                result = await op.ExecuteAsync(ctx, decoded, ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Log.OperationFailed(server.Logger, ex, TOp.Opcode.ToString(), ctx.Call.Connection.Id);
                w.Truncate(bodyAt);
                result = NfsStat4.ServerFault;
            }
        }
        w.PatchUInt32(statusAt, (uint)result.Status);
        TOp.Encode(result, w);
        return (result.Status, position);
    }

    private static bool TryDecode<TOp, TArgs, TResult>(ReadOnlyMemory<byte> args, ref int position, out TArgs decoded)
        where TOp : INfsOp<TArgs, TResult>
    {
        var r = new XdrReader(args[position..]);
        try
        {
            decoded = TOp.Decode(ref r);
            position += r.Position;
            return true;
        }
        catch (XdrException)
        {
            decoded = default!;
            return false;
        }
    }

    /// <summary>
    /// The export's mapping of each credential seen, kept while the credential lives: the RPC layer hands a connection's
    /// repeated AUTH_SYS credential over as one object, so a COMPOUND usually finds its caller here.
    /// </summary>
    private readonly System.Runtime.CompilerServices.ConditionalWeakTable<RpcCredentials, Caller> _callers = new();

    private Caller ToCaller(RpcCredentials credentials) =>
        _callers.TryGetValue(credentials, out var known) ? known : _callers.GetValue(credentials, c => Map(server.Export, c));

    private static Caller Map(ExportOptions export, RpcCredentials credentials) =>
        credentials.IsAnonymous
            ? export.MapAnonymous()
            : export.MapCaller(credentials.Uid, credentials.Gid, credentials.Groups);
}
