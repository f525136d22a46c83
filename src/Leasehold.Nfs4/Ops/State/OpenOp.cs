using Leasehold.Engine;
using Leasehold.Export;
using Leasehold.Nfs4.Attributes;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Nfs4.State.Recovery;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

internal enum CreateMode : uint
{
    Unchecked = 0,
    Guarded = 1,
    Exclusive = 2,
    Exclusive41 = 3,
}

internal enum ClaimType : uint
{
    Null = 0,
    Previous = 1,
    DelegateCur = 2,
    DelegatePrev = 3,
    Fh = 4,
    DelegCurFh = 5,
    DelegPrevFh = 6,
}

internal sealed record OpenArgs(
    uint ShareAccess,
    uint ShareDeny,
    ulong OwnerClientId,
    byte[] Owner,
    bool Create,
    CreateMode Mode,
    uint[]? AttrMask,
    byte[]? AttrValues,
    ulong Verifier,
    ClaimType Claim,
    byte[] Name,
    StateId DelegationStateId,
    DelegationType? PreviousDelegation = null);

internal sealed record OpenResult(StateId StateId, ChangeInfo DirectoryChange, uint[] AttrSet, uint Want, DelegationDecision Delegation)
{
    /// <summary>The open pins the file: it stays usable until CLOSE even if its last name is removed (OPEN4_RESULT_PRESERVE_UNLINKED).</summary>
    public bool PreserveUnlinked { get; init; }

    /// <summary>OPEN_XOR_DELEGATION was honoured: the stateid is all zeros and OPEN4_RESULT_NO_OPEN_STATEID is set (RFC 9754 §4).</summary>
    public bool NoOpenStateId { get; init; }
}

/// <summary>
/// OPEN, RFC 8881 §18.16: CLAIM_NULL (by name, creating with UNCHECKED4, GUARDED4 or EXCLUSIVE4_1), CLAIM_FH, and
/// the claims a delegation holder makes while it returns one (CLAIM_DELEGATE_CUR by name, CLAIM_DELEG_CUR_FH), which
/// pass a recall pending on the file because the open is the holder's own. The reclaim claims (CLAIM_PREVIOUS, and the
/// delegation ones a client with stable storage sends, CLAIM_DELEGATE_PREV and CLAIM_DELEG_PREV_FH) follow <see cref="ReclaimRules"/>.
/// Share reservations are checked against other open-owners; the open is registered with the lease engine, which
/// answers NFS4ERR_DELAY while it recalls a conflicting grant. A read open may come with a read delegation, an open for
/// write with a write delegation (<see cref="DelegationRegistry.TryGrantAsync"/>, §10.4); a client that stated a want
/// and got none hears why. Minor version 2 adds RFC 9754's share_access flags: WANT_DELEG_TIMESTAMPS (a *_ATTRS_DELEG
/// delegation, <see cref="DelegationState.TimestampsDelegated"/>) and WANT_OPEN_XOR_DELEGATION (see <see cref="ExecuteAsync"/>).
/// </summary>
internal sealed class OpenOp : INfsOp<OpenArgs, OpenResult>
{
    public static readonly OpenOp Instance = new();

    private const uint ResultLockTypePosix = 4;
    private const uint ResultPreserveUnlinked = 8;
    private const uint ResultMayNotifyLock = 0x20; // OPEN4_RESULT_MAY_NOTIFY_LOCK: blocking LOCKs denied are told with CB_NOTIFY_LOCK (BlockedLocks)
    private const uint WantDelegationMask = 0xFF00;
    private const uint WantMask = WantDelegationMask | 0x30000; // OPEN4_SHARE_ACCESS_WANT_* and the signal bits

    public static NfsOpcode Opcode => NfsOpcode.Open;

    public static OpenArgs Decode(ref XdrReader r)
    {
        r.ReadUInt32(); // seqid: unused in NFSv4.1 (§18.16.3)
        uint access = r.ReadUInt32();
        uint deny = r.ReadUInt32();
        ulong clientId = r.ReadUInt64();
        var owner = r.ReadOpaque(Wire.MaxOpaque).ToArray();
        bool create = r.ReadUInt32() == 1;
        var mode = CreateMode.Unchecked;
        uint[]? mask = null;
        byte[]? values = null;
        ulong verifier = 0;
        if (create)
        {
            mode = (CreateMode)r.ReadUInt32();
            switch (mode)
            {
                case CreateMode.Unchecked:
                case CreateMode.Guarded:
                    mask = Wire.ReadBitmap(ref r);
                    values = r.ReadOpaque(int.MaxValue).ToArray();
                    break;
                case CreateMode.Exclusive:
                    verifier = Wire.ReadVerifier(ref r);
                    break;
                case CreateMode.Exclusive41:
                    verifier = Wire.ReadVerifier(ref r);
                    mask = Wire.ReadBitmap(ref r);
                    values = r.ReadOpaque(int.MaxValue).ToArray();
                    break;
                default:
                    XdrException.Throw($"createmode {(uint)mode}");
                    break;
            }
        }
        var claim = (ClaimType)r.ReadUInt32();
        byte[] name = [];
        var delegationStateId = default(StateId);
        DelegationType? previous = null;
        switch (claim)
        {
            case ClaimType.Null:
            case ClaimType.DelegatePrev:
                name = Names.ReadComponent(ref r);
                break;
            case ClaimType.Previous:
                previous = r.ReadUInt32() switch
                {
                    1 or 4 => DelegationType.Read,  // OPEN_DELEGATE_READ (or READ_ATTRS_DELEG, RFC 9754: reclaimed as a read one)
                    2 or 5 => DelegationType.Write, // OPEN_DELEGATE_WRITE (or WRITE_ATTRS_DELEG)
                    _ => null,                 // OPEN_DELEGATE_NONE (NONE_EXT is not valid here: taken as none)
                };
                break;
            case ClaimType.DelegateCur:
                delegationStateId = StateId.Read(ref r);
                name = Names.ReadComponent(ref r);
                break;
            case ClaimType.Fh:
            case ClaimType.DelegPrevFh:
                break;
            case ClaimType.DelegCurFh:
                delegationStateId = StateId.Read(ref r);
                break;
            default:
                XdrException.Throw($"claim type {(uint)claim}");
                break;
        }
        return new OpenArgs(access, deny, clientId, owner, create, mode, mask, values, verifier, claim, name, delegationStateId, previous);
    }

    /// <summary>
    /// An OPEN that may create waits for the new file to be made durable (fsync of it and its directory,
    /// Export:SyncDirectoryChanges) before the answer; one that only opens stays on the socket's thread.
    /// </summary>
    public static bool MayWaitOnDisk(OpenArgs args) => args.Create;

    /// <summary>
    /// Runs OPEN. OPEN_XOR_DELEGATION (RFC 9754 §4, minor version 2): when a delegation is granted and the open-owner had
    /// no open of the file before, the new open is closed again before the reply, which carries the all-zero stateid and
    /// OPEN4_RESULT_NO_OPEN_STATEID; the client does its I/O under the delegation stateid (also the COMPOUND's current
    /// stateid from here) and returns it with DELEGRETURN, with no CLOSE. An open the owner had already is upgraded and
    /// returned as usual (knfsd <c>nfsd4_process_open2</c> does the same), and with no delegation the flag changes nothing.
    /// </summary>
    public async ValueTask<OpResult<OpenResult>> ExecuteAsync(CompoundContext ctx, OpenArgs args, CancellationToken cancellationToken)
    {
        if (!ctx.TryGetCurrentFh(out var current, out var status))
            return status;
        if (!IsKnownWant(args.ShareAccess, ctx.MinorVersion))
            return NfsStat4.BadXdr;
        var access = (Share)(args.ShareAccess & ~(WantMask | DelegationAttributes.WantFlags));
        var deny = (Share)args.ShareDeny;
        if (access is Share.None || (uint)access > 3 || (uint)deny > 3)
            return NfsStat4.Inval;
        if (args.Create && args.Claim != ClaimType.Null)
            return NfsStat4.Inval; // §18.16.3: only CLAIM_NULL names a file that may not exist yet (knfsd: the same check)
        var client = ctx.Client!; // open_owner4's clientid is ignored in NFSv4.1: the session names the client (§18.16.3)
        // Reclaims first, before the "no new state before RECLAIM_COMPLETE" rule, which every reclaiming client is
        // under: a client that may not reclaim hears NO_GRACE and opens afresh (answering GRACE would leave a Linux
        // client unable to recover the open: every later write through it fails with EBADF).
        bool reclaim = args.Claim is ClaimType.Previous or ClaimType.DelegatePrev or ClaimType.DelegPrevFh;
        status = reclaim ? ReclaimRules.CheckReclaim(ctx.Server, client) : ReclaimRules.CheckNewState(ctx.Server, client);
        if (status != NfsStat4.Ok)
            return status;

        DelegationState? claimed = null;
        if (args.Claim is ClaimType.DelegateCur or ClaimType.DelegCurFh)
        {
            // The holder turns opens it served locally into real ones while it returns the delegation (§10.4.5,
            // §18.16.3): the stateid must be its own, live delegation; the file is checked once it is found.
            status = ctx.Server.States.FindDelegation(args.DelegationStateId, client, out claimed);
            if (status != NfsStat4.Ok)
                return status;
        }

        FileHandle file;
        var change = default(ChangeInfo);
        uint[] attrSet = [];
        bool created = false;
        switch (args.Claim)
        {
            case ClaimType.Null:
            case ClaimType.DelegateCur:
            case ClaimType.DelegatePrev:
            {
                // A create changes the directory: its change_info4 is atomic when no other change by this server
                // overlapped (see DirectoryChanges); an open of an existing name changes nothing and says not atomic.
                using var scope = args.Create ? ctx.Server.DirectoryChanges.Begin(current) : null;
                var dirAttrs = ctx.Tree.GetAttributes(current);
                if (!dirAttrs.IsOk)
                    return dirAttrs.Status.ToNfs();
                if (dirAttrs.Value.Type != FileType.Directory)
                    return dirAttrs.Value.Type == FileType.Symlink ? NfsStat4.Symlink : NfsStat4.NotDir;
                status = Names.Validate(args.Name, out var name);
                if (status != NfsStat4.Ok)
                    return status;
                if (args.Create)
                {
                    var made = await CreateAsync(ctx, current, name, args, cancellationToken).ConfigureAwait(false);
                    if (!made.IsOk)
                        return made.Status;
                    (file, created, attrSet) = made.Value;
                }
                else
                {
                    var found = ctx.Tree.Lookup(ctx.Caller, current, name);
                    if (!found.IsOk)
                        return found.Status.ToNfs();
                    file = found.Value;
                }
                if (scope is null)
                    change = new ChangeInfo(false, dirAttrs.Value.Change, dirAttrs.Value.Change); // nothing changed: no second look
                else
                    change = Directories.Change(ctx, dirAttrs.Value, current, scope);
                break;
            }
            case ClaimType.Fh:
            case ClaimType.DelegCurFh:
            case ClaimType.Previous:
            case ClaimType.DelegPrevFh:
                file = current;
                break;
            default:
                return NfsStat4.Inval; // not reached: Decode refuses unknown claims
        }

        var attrs = ctx.Tree.GetAttributes(file);
        if (!attrs.IsOk)
            return attrs.Status.ToNfs();
        switch (attrs.Value.Type)
        {
            case FileType.Regular:
                break;
            case FileType.Directory:
                return NfsStat4.IsDir;
            case FileType.Symlink:
                return NfsStat4.Symlink;
            default:
                return NfsStat4.WrongType;
        }
        if (claimed is not null)
        {
            if (claimed.File != file)
                return NfsStat4.BadStateId;
            if ((access & Share.Write) != 0 && claimed.Type != DelegationType.Write)
                return NfsStat4.OpenMode; // knfsd nfs4_check_delegmode: a read delegation covers read opens only
        }
        if ((access & Share.Write) != 0 && ctx.Server.Export.ReadOnly)
            return NfsStat4.Rofs; // as knfsd: the file system refuses writes, whatever the mode bits say
        if (!created)
        {
            var mask = ((access & Share.Read) != 0 ? AccessMask.Read : 0) | ((access & Share.Write) != 0 ? AccessMask.Modify : 0);
            var allowed = ctx.Tree.CheckAccess(ctx.Caller, file, mask);
            if (!allowed.IsOk)
                return allowed.Status.ToNfs();
            if ((allowed.Value & mask) != mask)
                return NfsStat4.Access;
        }

        (status, var open) = await OpenRegistry.OpenAsync(ctx.Server, client, args.Owner, file, attrs.Value.FileId, access, deny).ConfigureAwait(false);
        if (open is null)
            return reclaim && status == NfsStat4.ShareDenied ? NfsStat4.ReclaimConflict : status; // only reclaimed opens exist in grace
        uint want = args.ShareAccess & WantDelegationMask;
        DelegationDecision delegation;
        if (reclaim)
        {
            open.Reclaimed = true;
            ctx.Server.Grace.Reclaimed();
            delegation = await ReclaimRules.ReclaimDelegationAsync(ctx.Server, client, file, attrs.Value.FileId, args.Claim, args.PreviousDelegation, access | open.Access).ConfigureAwait(false);
            want = 0; // the client asked for nothing: it told what it held
        }
        else if (claimed is null)
        {
            bool timestamps = (args.ShareAccess & DelegationAttributes.WantDelegTimestamps) != 0; // only 4.2 gets past IsKnownWant with it
            delegation = await ctx.Server.Delegations.TryGrantAsync(client, file, attrs.Value.FileId, access | open.Access, want, timestamps).ConfigureAwait(false);
        }
        else
        {
            delegation = DelegationDecision.None(WhyNoDelegation.NotWanted); // a delegation claim opens under the delegation being returned
        }
        ctx.CurrentFh = file;
        if (!reclaim && (args.ShareAccess & DelegationAttributes.WantOpenXorDelegation) != 0 && delegation.Granted is { } granted && open.SeqId == 1)
        {
            // A new open (its first OPEN made seqid 1) and a delegation: the delegation stands for the open.
            OpenRegistry.Close(ctx.Server, open);
            ctx.CurrentStateId = granted.Id;
            return OpResult<OpenResult>.Ok(new OpenResult(StateId.Anonymous, change, attrSet, want, delegation) { NoOpenStateId = true });
        }
        ctx.CurrentStateId = open.Id;
        return OpResult<OpenResult>.Ok(new OpenResult(open.Id, change, attrSet, want, delegation) { PreserveUnlinked = open.Pin is not null });
    }

    /// <summary>
    /// Whether the bits of share_access above the access itself are ones RFC 8881 §18.16.3 defines: one
    /// OPEN4_SHARE_ACCESS_WANT_* value (none, READ_DELEG, WRITE_DELEG, ANY_DELEG, NO_DELEG, CANCEL) and the two
    /// signal bits, and in minor version 2 RFC 9754's two flags. Anything else is NFS4ERR_BADXDR, as knfsd's
    /// nfsd4_decode_share_access answers.
    /// </summary>
    private static bool IsKnownWant(uint shareAccess, uint minorVersion)
    {
        const uint AccessBits = 0xFF, SignalBits = 0x30000;
        uint known = AccessBits | WantDelegationMask | SignalBits | (minorVersion >= 2 ? DelegationAttributes.WantFlags : 0);
        uint want = shareAccess & WantDelegationMask;
        return (shareAccess & ~known) == 0 && want <= 0x0500;
    }

    /// <summary>
    /// The create half of OPEN. EXCLUSIVE4 and EXCLUSIVE4_1 keep their verifier in the new file's time_access and
    /// time_modify (seconds: the high and the low 32 bits), as knfsd does, so a retransmission finds its own file
    /// (same verifier: the same answer; another: EXIST). The attrset names those two attributes (§18.16.4), and the
    /// client sets them right after; EXCLUSIVE4_1 takes only the attributes in suppattr_exclcreat (INVAL otherwise,
    /// §18.16.3), so nothing the client sends is overwritten by the verifier.
    /// </summary>
    private static async ValueTask<OpResult<(FileHandle, bool, uint[])>> CreateAsync(CompoundContext ctx, FileHandle dir, FileName name, OpenArgs args, CancellationToken ct)
    {
        var changes = new SetAttributes();
        if (args.AttrMask is { } mask)
        {
            var decoded = FattrDecoder.Read(mask, args.AttrValues!, ctx.Server.FattrFor(ctx.MinorVersion), creating: true, out changes);
            if (decoded != NfsStat4.Ok)
                return decoded;
            if (args.Mode == CreateMode.Exclusive41 && !Attr.IsSubset(mask, Attr.ExclusiveCreateSettable))
                return NfsStat4.Inval;
        }
        bool byVerifier = args.Mode is CreateMode.Exclusive or CreateMode.Exclusive41;
        bool exclusive = byVerifier || args.Mode == CreateMode.Guarded;
        uint mode = changes.Mode ?? 0x1A4; // 0644
        var made = await ctx.Tree.CreateFileAsync(ctx.Caller, dir, name, mode, exclusive, ctx.ChangeContext, ct).ConfigureAwait(false);
        if (made.Status == FsStatus.Exists && byVerifier)
        {
            // A retransmitted exclusive create finds its own file: same verifier, same answer (§18.16.3), and it
            // counts as created by this client (knfsd: op_created), so its mode does not refuse the open.
            var existing = ctx.Tree.Lookup(ctx.Caller, dir, name);
            if (existing.IsOk && ctx.Tree.GetAttributes(existing.Value) is { IsOk: true } a && HoldsVerifier(a.Value, args.Verifier))
                return OpResult<(FileHandle, bool, uint[])>.Ok((existing.Value, true, AttrSet(args, created: true)));
            return NfsStat4.Exist;
        }
        if (!made.IsOk)
            return made.Status.ToNfs();
        var (handle, created) = made.Value;
        // The mode was applied by the create; an existing file is only ever found by UNCHECKED4 (GUARDED4 and the
        // exclusive modes answered above), which changes no mode or owner of it, only its size.
        var rest = created ? changes with { Mode = null } : changes with { Mode = null, Uid = null, Gid = null };
        if (created && byVerifier)
        {
            // Set last (utimensat comes after any truncate in one SETATTR), so nothing moves the times afterwards.
            rest = rest with
            {
                AccessTime = new FsTime((long)(args.Verifier >> 32), 0),
                ModifyTime = new FsTime((long)(args.Verifier & 0xFFFF_FFFF), 0),
                AccessTimeNow = false,
                ModifyTimeNow = false,
            };
        }
        var truncation = default(UnreservedIo);
        if (!created && rest.Size is not null)
        {
            // A truncation is a write: an open without write access may not make it (knfsd: nfserr_inval).
            if ((args.ShareAccess & (uint)Share.Write) == 0)
                return NfsStat4.Inval;
            var admitted = OpenRegistry.BeginTruncate(ctx.Server, ctx.Client!, args.Owner, handle, out truncation);
            if (admitted != NfsStat4.Ok)
                return admitted; // before anything is cut: a truncation is a write another open may deny (§9.1.2)
        }
        using var truncating = truncation;
        if (!rest.IsEmpty)
        {
            var set = await ctx.Tree.SetAttributesAsync(ctx.Caller, handle, rest, ctx.ChangeContext, ct).ConfigureAwait(false);
            if (!set.IsOk)
            {
                // Refused (an owner the caller may not give away, a size too big): the create is undone, so a retry
                // does not find a file carrying the verifier without the attributes it asked for.
                if (created)
                    await ctx.Tree.RemoveAsync(ctx.Caller, dir, name, ctx.ChangeContext, ct).ConfigureAwait(false);
                return set.Status.ToNfs();
            }
        }
        if (created && byVerifier && ctx.Server.Export.SyncDirectoryChanges)
        {
            // The verifier is the file's times, set after the create: it is made durable too, or a client resending
            // its exclusive create after a crash would find the file without it and get EXIST (§18.16.3).
            var synced = ctx.Tree.Commit(handle);
            if (!synced.IsOk)
                return synced.Status.ToNfs();
        }
        return OpResult<(FileHandle, bool, uint[])>.Ok((handle, created, AttrSet(args, created)));
    }

    /// <summary>
    /// OPEN's attrset (§18.16.4): what the create set. A new file: every attribute sent, plus, for an exclusive create,
    /// the attributes holding the verifier. An existing file under UNCHECKED4: only the size (a truncation).
    /// </summary>
    private static uint[] AttrSet(OpenArgs args, bool created)
    {
        var set = new List<int>();
        if (args.AttrMask is { } m)
        {
            for (int attr = 0; attr < m.Length * 32; attr++)
            {
                if (Attr.IsSet(m, attr) && (created || (args.Mode == CreateMode.Unchecked && attr == Attr.Size)))
                    set.Add(attr);
            }
        }
        if (created && args.Mode is CreateMode.Exclusive or CreateMode.Exclusive41)
            set.AddRange(Attr.VerifierHolders);
        return Attr.Bitmap([.. set]);
    }

    private static bool HoldsVerifier(FileAttributes a, ulong verifier) =>
        a.AccessTime == new FsTime((long)(verifier >> 32), 0) && a.ModifyTime == new FsTime((long)(verifier & 0xFFFF_FFFF), 0);

    public static void Encode(in OpResult<OpenResult> result, XdrWriter w)
    {
        if (result.Value is not { } v)
            return;
        v.StateId.Write(w);
        v.DirectoryChange.Write(w);
        w.WriteUInt32(ResultLockTypePosix | ResultMayNotifyLock | (v.PreserveUnlinked ? ResultPreserveUnlinked : 0) | (v.NoOpenStateId ? DelegationAttributes.ResultNoOpenStateId : 0));
        Wire.WriteBitmap(w, v.AttrSet);
        if (v.Delegation.Granted is { } granted)
            WriteDelegation(w, granted);
        else
            WriteNoDelegation(w, v.Want, v.Delegation.Why);
    }

    /// <summary>
    /// open_read_delegation4 or open_write_delegation4 (§18.16.2; the *_ATTRS_DELEG types of RFC 9754 carry the same
    /// arms): the stateid, recall false, for a write delegation
    /// an nfs_space_limit4 of NFS_LIMIT_SIZE with no limit (2^64-1: the client may grow the file locally as far as it
    /// likes and flushes when it must; knfsd sends the same), then an ACE allowing nothing, which tells the client to
    /// ask ACCESS for every open it serves locally (knfsd sends the same).
    /// </summary>
    private static void WriteDelegation(XdrWriter w, DelegationState delegation)
    {
        const uint LimitSize = 1;
        w.WriteUInt32(delegation.WireType);
        delegation.Id.Write(w);
        w.WriteBool(false); // recall: no recall is pending
        if (delegation.Type == DelegationType.Write)
        {
            w.WriteUInt32(LimitSize);
            w.WriteUInt64(ulong.MaxValue); // filesize
        }
        w.WriteUInt32(0);   // ACE4_ACCESS_ALLOWED_ACE_TYPE
        w.WriteUInt32(0);   // flag
        w.WriteUInt32(0);   // access mask: nothing, so the client asks
        w.WriteUInt32(0);   // who: the empty string
    }

    /// <summary>
    /// No delegation. A client that stated no want hears OPEN_DELEGATE_NONE; one that did hears why not
    /// (open_none_delegation4, §18.16.2), and for CONTENTION and RESOURCE that the server will not signal (we never
    /// promise to).
    /// </summary>
    private static void WriteNoDelegation(XdrWriter w, uint want, WhyNoDelegation why)
    {
        const uint None = 0, NoneExt = 3;
        if (want == 0)
        {
            w.WriteUInt32(None);
            return;
        }
        w.WriteUInt32(NoneExt);
        w.WriteUInt32((uint)why);
        if (why is WhyNoDelegation.Contention or WhyNoDelegation.Resource)
            w.WriteBool(false); // ond_server_will_push_deleg / ond_server_will_signal_avail
    }
}
