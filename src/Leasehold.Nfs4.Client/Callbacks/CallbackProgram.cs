using Leasehold.Nfs4.Client.Rpc;
using Leasehold.Rpc.Messages;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Client.Callbacks;

/// <summary>
/// The NFSv4.1 callback program (RFC 8881 §20 and §2.10.3.1) served on the client's own connection: CB_NULL and
/// CB_COMPOUND. Decodes each callback operation, asks the <see cref="INfs4CallbackHandler"/>, and encodes
/// CB_COMPOUND4res, stopping at the first failure as a server does. The back-channel slot table is not enforced
/// and replies are not cached: enough for tests that watch recalls, not for a production client.
/// </summary>
public sealed class CallbackProgram(uint program, INfs4CallbackHandler handler) : IRpcCallHandler
{
    /// <summary>NFS4_CALLBACK's version (RFC 8881 §20: "version NFS_CB = 1").</summary>
    public const uint Version = 1;

    private const uint ProcNull = 0;
    private const uint ProcCompound = 1;
    private const int MaxCallbackOps = 16;

    public uint Program { get; } = program;

    public INfs4CallbackHandler Handler { get; } = handler;

    public async ValueTask<RpcCallReply> HandleCallAsync(RpcIncomingCall call, CancellationToken cancellationToken)
    {
        if (call.Program != Program)
            return new RpcCallReply(AcceptStat.ProgUnavail, default);
        if (call.Version != Version)
            return new RpcCallReply(AcceptStat.ProgMismatch, default);
        switch (call.Procedure)
        {
            case ProcNull:
                await Handler.OnNullAsync(new CbNullEvent { Credentials = call.Credentials }, cancellationToken).ConfigureAwait(false);
                return RpcCallReply.Success(ReadOnlyMemory<byte>.Empty);
            case ProcCompound:
                return RpcCallReply.Success(await CompoundAsync(call.Arguments, call.Credentials, cancellationToken).ConfigureAwait(false));
            default:
                return new RpcCallReply(AcceptStat.ProcUnavail, default);
        }
    }

    private async ValueTask<byte[]> CompoundAsync(ReadOnlyMemory<byte> args, RpcCredentials credentials, CancellationToken cancellationToken)
    {
        var ops = DecodeCompound(args.Span, out string tag);
        for (int i = 0; i < ops.Count; i++)
            ops[i] = ops[i] with { Credentials = credentials };
        using var w = new XdrWriter();
        int statusAt = w.ReserveUInt32();
        w.WriteString(tag);
        int countAt = w.ReserveUInt32();
        var status = NfsStat4.Ok;
        uint count = 0;
        foreach (var op in ops)
        {
            count++;
            switch (op)
            {
                case CbSequenceEvent seq:
                    status = await Handler.OnSequenceAsync(seq, cancellationToken).ConfigureAwait(false);
                    w.WriteUInt32((uint)CbOpcode.CbSequence);
                    w.WriteUInt32((uint)status);
                    if (status == NfsStat4.Ok)
                    {
                        // CB_SEQUENCE4resok echoes the session, sequence and slot; target = highest: no wish to shrink.
                        seq.SessionId.Write(w);
                        w.WriteUInt32(seq.SequenceId);
                        w.WriteUInt32(seq.SlotId);
                        w.WriteUInt32(seq.HighestSlotId);
                        w.WriteUInt32(seq.HighestSlotId);
                    }
                    break;
                case CbRecallEvent recall:
                    status = await Handler.OnRecallAsync(recall, cancellationToken).ConfigureAwait(false);
                    w.WriteUInt32((uint)CbOpcode.CbRecall);
                    w.WriteUInt32((uint)status);
                    break;
                case CbGetAttrEvent getAttr:
                {
                    var answer = await Handler.OnGetAttrAsync(getAttr, cancellationToken).ConfigureAwait(false);
                    status = answer.Status;
                    w.WriteUInt32((uint)CbOpcode.CbGetAttr);
                    w.WriteUInt32((uint)status);
                    if (status == NfsStat4.Ok)
                        WriteAttributes(w, getAttr.Mask, answer);
                    break;
                }
                case CbOffloadEvent offload:
                    status = await Handler.OnOffloadAsync(offload, cancellationToken).ConfigureAwait(false);
                    w.WriteUInt32((uint)CbOpcode.CbOffload);
                    w.WriteUInt32((uint)status);
                    break;
                case CbNotifyLockEvent notify:
                    status = await Handler.OnNotifyLockAsync(notify, cancellationToken).ConfigureAwait(false);
                    w.WriteUInt32((uint)CbOpcode.CbNotifyLock);
                    w.WriteUInt32((uint)status);
                    break;
                case CbOtherEvent other when other.Op == CbOpcode.CbIllegal:
                    status = NfsStat4.OpIllegal;
                    w.WriteUInt32((uint)CbOpcode.CbIllegal);
                    w.WriteUInt32((uint)status);
                    break;
                case CbOtherEvent other:
                    status = await Handler.OnOtherAsync(other, cancellationToken).ConfigureAwait(false);
                    w.WriteUInt32((uint)other.Op);
                    w.WriteUInt32((uint)status);
                    break;
            }
            if (status != NfsStat4.Ok)
                break;
        }
        w.PatchUInt32(statusAt, (uint)status);
        w.PatchUInt32(countAt, count);
        return w.WrittenSpan.ToArray();
    }

    /// <summary>
    /// CB_GETATTR4resok's fattr4: of change (3), size (4), time_deleg_access (84) and time_deleg_modify (85, RFC 9754),
    /// those asked for and given, in increasing number, as the Linux client answers (<c>nfs4_callback_getattr</c>).
    /// </summary>
    private static void WriteAttributes(XdrWriter w, AttrBitmap asked, CbGetAttrAnswer answer)
    {
        bool change = asked.Contains(FileAttr.Change) && answer.Change is not null;
        bool size = asked.Contains(FileAttr.Size) && answer.Size is not null;
        bool access = asked.Contains(FileAttr.TimeDelegAccess) && answer.TimeDelegAccess is not null;
        bool modify = asked.Contains(FileAttr.TimeDelegModify) && answer.TimeDelegModify is not null;
        var attrs = new List<FileAttr>(4);
        if (change)
            attrs.Add(FileAttr.Change);
        if (size)
            attrs.Add(FileAttr.Size);
        if (access)
            attrs.Add(FileAttr.TimeDelegAccess);
        if (modify)
            attrs.Add(FileAttr.TimeDelegModify);
        AttrBitmap.Of([.. attrs]).Write(w);
        w.WriteUInt32((change ? 8u : 0) + (size ? 8u : 0) + (access ? 12u : 0) + (modify ? 12u : 0)); // attrlist4's length
        if (change)
            w.WriteUInt64(answer.Change!.Value);
        if (size)
            w.WriteUInt64(answer.Size!.Value);
        if (access)
            answer.TimeDelegAccess!.Value.Write(w);
        if (modify)
            answer.TimeDelegModify!.Value.Write(w);
    }

    /// <summary>
    /// Decodes CB_COMPOUND4args up to the first operation it cannot parse: that one becomes an event whose result is
    /// an error (or CB_ILLEGAL), and nothing after it is read, since its arguments' length is unknown.
    /// </summary>
    internal static List<CallbackEvent> DecodeCompound(ReadOnlySpan<byte> args, out string tag)
    {
        var r = new XdrReader(args);
        tag = r.ReadString(XdrLimits.MaxString);
        r.ReadUInt32(); // minorversion
        r.ReadUInt32(); // callback_ident: 4.0 only
        int count = r.ReadArrayCount(MaxCallbackOps);
        var ops = new List<CallbackEvent>(count);
        for (int i = 0; i < count; i++)
        {
            var op = (CbOpcode)r.ReadUInt32();
            switch (op)
            {
                case CbOpcode.CbSequence:
                {
                    var session = SessionId.Read(ref r);
                    uint seq = r.ReadUInt32(), slot = r.ReadUInt32(), highest = r.ReadUInt32();
                    bool cache = r.ReadBool();
                    int lists = r.ReadArrayCount(XdrLimits.MaxArray, 20); // referring_call_list4: sessionid + calls
                    for (int l = 0; l < lists; l++)
                    {
                        SessionId.Read(ref r);
                        int calls = r.ReadArrayCount(XdrLimits.MaxArray, 8);
                        r.Skip(calls * 8);
                    }
                    ops.Add(new CbSequenceEvent(session, seq, slot, highest, cache));
                    break;
                }
                case CbOpcode.CbRecall:
                    ops.Add(new CbRecallEvent(StateId.Read(ref r), r.ReadBool(), FileHandle.Read(ref r)));
                    break;
                case CbOpcode.CbGetAttr:
                    ops.Add(new CbGetAttrEvent(FileHandle.Read(ref r), AttrBitmap.Read(ref r)));
                    break;
                case CbOpcode.CbOffload:
                    ops.Add(DecodeOffload(ref r));
                    break;
                case CbOpcode.CbNotifyLock:
                    ops.Add(new CbNotifyLockEvent(FileHandle.Read(ref r), r.ReadUInt64(), r.ReadOpaque(XdrLimits.OpaqueLimit).ToArray()));
                    break;
                case CbOpcode.CbRecallAny:
                    r.ReadUInt32(); // craa_objects_to_keep
                    AttrBitmap.Read(ref r); // craa_type_mask
                    ops.Add(new CbOtherEvent(op));
                    break;
                default:
                    ops.Add(new CbOtherEvent(Enum.IsDefined(op) ? op : CbOpcode.CbIllegal));
                    return ops;
            }
        }
        return ops;
    }

    /// <summary>CB_OFFLOAD4args: coa_fh, coa_stateid, and offload_info4 (write_response4 for NFS4_OK, coa_bytes_copied otherwise).</summary>
    private static CbOffloadEvent DecodeOffload(ref XdrReader r)
    {
        var fh = FileHandle.Read(ref r);
        var stateId = StateId.Read(ref r);
        var status = (NfsStat4)r.ReadUInt32();
        if (status != NfsStat4.Ok)
            return new CbOffloadEvent(fh, stateId, status, r.ReadUInt64(), StableHow.Unstable, 0);
        if (r.ReadArrayCount(1, 16) == 1)
            StateId.Read(ref r); // wr_callback_id: no use here
        return new CbOffloadEvent(fh, stateId, status, r.ReadUInt64(), (StableHow)r.ReadUInt32(), r.ReadUInt64());
    }
}
