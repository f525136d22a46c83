using Leasehold.Engine;
using Leasehold.Export;
using Leasehold.Nfs4.Attributes;
using Leasehold.Nfs4.Callbacks;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

internal readonly record struct GetAttrResult(uint[] Requested, FileAttributes Attributes, FileHandle Handle, FattrContext Server, IExportedTree Tree);

/// <summary>
/// GETATTR, RFC 8881 §18.7: the attributes asked for that we support; write-only ones are INVAL. While another client
/// holds a write delegation on the file, its size and change attribute are the holder's to tell (§10.4.3): see
/// <see cref="AskHolderAsync"/>; so are its access and modify times when it holds them delegated (RFC 9754 §5). On a
/// cluster node, another node's write delegation is recalled first (<see cref="BreakForReadAsync"/>). In minor version 2,
/// time_deleg_access and time_deleg_modify are INVAL (only CB_GETATTR and SETATTR carry them; knfsd answers the same).
/// </summary>
internal sealed class GetAttrOp : INfsOp<uint[], GetAttrResult>
{
    public static readonly GetAttrOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.GetAttr;

    public static uint[] Decode(ref XdrReader r) => Wire.ReadBitmap(ref r);

    public ValueTask<OpResult<GetAttrResult>> ExecuteAsync(CompoundContext ctx, uint[] requested, CancellationToken cancellationToken)
    {
        if (!ctx.TryGetCurrentFh(out var fh, out var status))
            return ValueTask.FromResult<OpResult<GetAttrResult>>(status);
        if (Attr.IsSet(requested, Attr.TimeAccessSet) || Attr.IsSet(requested, Attr.TimeModifySet)
            || (ctx.MinorVersion >= 2 && (Attr.IsSet(requested, Attr.TimeDelegAccess) || Attr.IsSet(requested, Attr.TimeDelegModify))))
            return ValueTask.FromResult<OpResult<GetAttrResult>>(NfsStat4.Inval);
        // A cluster node whose export knows the file's id without reading its attributes breaks first and reads once.
        if (ctx.Server.ClusterMode && AsksForWrittenAttributes(requested) && ctx.Tree.TryGetCachedRegularFileId(fh, out ulong cachedId)
            && !(ctx.Server.Delegations.FindWriteDelegation(cachedId) is { } local && local.Client != ctx.Client))
            return BreakThenReadAsync(ctx, requested, fh, cachedId);
        var attrs = ctx.Tree.GetAttributes(fh);
        if (!attrs.IsOk)
            return ValueTask.FromResult<OpResult<GetAttrResult>>(attrs.Status.ToNfs());
        // One dictionary lookup, and only when size, change or (delegated timestamps) a time is asked for.
        bool asksSizeOrChange = Attr.IsSet(requested, Attr.Change) || Attr.IsSet(requested, Attr.Size);
        if ((asksSizeOrChange || AsksForTimes(requested))
            && ctx.Server.Delegations.FindWriteDelegation(attrs.Value.FileId) is { } held && held.Client != ctx.Client
            && (asksSizeOrChange || held.TimestampsDelegated))
            return AskHolderAsync(ctx, requested, fh, attrs.Value, held);
        if (ctx.Server.ClusterMode && attrs.Value.Type == FileType.Regular && AsksForWrittenAttributes(requested))
            return BreakForReadAsync(ctx, requested, fh, attrs.Value);
        return ValueTask.FromResult(Answer(ctx, requested, fh, attrs.Value));
    }

    /// <summary>Whether <paramref name="requested"/> names a time the holder of delegated timestamps owns: access, modify (and metadata, which follows modify).</summary>
    private static bool AsksForTimes(uint[] requested) =>
        Attr.IsSet(requested, Attr.TimeAccess) || Attr.IsSet(requested, Attr.TimeModify) || Attr.IsSet(requested, Attr.TimeMetadata);

    /// <summary>Whether <paramref name="requested"/> names an attribute a writer changes: change, size, space used, the modify or metadata time.</summary>
    private static bool AsksForWrittenAttributes(uint[] requested) =>
        Attr.IsSet(requested, Attr.Change) || Attr.IsSet(requested, Attr.Size) || Attr.IsSet(requested, Attr.SpaceUsed)
        || Attr.IsSet(requested, Attr.TimeModify) || Attr.IsSet(requested, Attr.TimeMetadata);

    /// <summary>
    /// A cluster node's GETATTR of attributes a writer changes (<see cref="Nfs4Server.ClusterMode"/>): the caller's break
    /// for a read through the engine first, as an OPEN for read's, non-blocking. Another node's write delegation is not
    /// this node's to ask with CB_GETATTR; the break makes the node hold the right to read the file, which recalls that
    /// delegation (its holder flushes and returns it) while this GETATTR answers NFS4ERR_DELAY. The caller's own
    /// delegations are not broken (the engine's owner match). Once the break proceeds the attributes are read again:
    /// those read before it may predate the other node's writes. Access time is left out: reads under a delegation
    /// never reach any server, so a recall would not make it more current.
    /// </summary>
    private static async ValueTask<OpResult<GetAttrResult>> BreakForReadAsync(CompoundContext ctx, uint[] requested, FileHandle fh, FileAttributes attrs)
    {
        var change = ctx.ChangeContext;
        var broke = await ctx.Server.Engine.BreakAsync(FileKey.From(attrs.FileId), FileOperation.OpenRead,
            new Owner(change.BreakerGroup, change.BreakerId), BreakMode.NonBlocking).ConfigureAwait(false);
        if (!broke.CanProceed)
            return NfsStat4.Delay;
        var now = ctx.Tree.GetAttributes(fh);
        return now.IsOk ? Answer(ctx, requested, fh, now.Value) : now.Status.ToNfs();
    }

    /// <summary>
    /// <see cref="BreakForReadAsync"/> for a file whose id the export has cached: the break comes first, so the one
    /// attribute read after it is current (no other node holds a write delegation on the file any more).
    /// </summary>
    private static async ValueTask<OpResult<GetAttrResult>> BreakThenReadAsync(CompoundContext ctx, uint[] requested, FileHandle fh, ulong fileId)
    {
        var change = ctx.ChangeContext;
        var broke = await ctx.Server.Engine.BreakAsync(FileKey.From(fileId), FileOperation.OpenRead,
            new Owner(change.BreakerGroup, change.BreakerId), BreakMode.NonBlocking).ConfigureAwait(false);
        if (!broke.CanProceed)
            return NfsStat4.Delay;
        var attrs = ctx.Tree.GetAttributes(fh);
        return attrs.IsOk ? Answer(ctx, requested, fh, attrs.Value) : attrs.Status.ToNfs();
    }

    /// <summary>
    /// GETATTR of size or change while <paramref name="held"/>, another client's write delegation, is on the file
    /// (RFC 8881 §10.4.3; knfsd <c>nfsd4_deleg_getattr_conflict</c>). The holder may have written data the server has
    /// not seen, so it is asked with CB_GETATTR, for at most <see cref="Nfs4Options.CbGetAttrTimeout"/>:
    /// <list type="bullet">
    /// <item>It answers, and its change attribute is the one at grant and its size the server's: nothing is modified;
    /// the server's attributes stand.</item>
    /// <item>It answers otherwise (or did so before: the mark stays, as knfsd's <c>ncf_file_modified</c>): the size is
    /// the holder's, and the change attribute a new value above both the server's and every value reported before
    /// (max(server change, change at grant, last reported) + 1), so each such GETATTR shows a change. The size is
    /// compared with the server's current size, not the size at grant, as the RFC says and knfsd does since "nfsd: fix
    /// file change detection in CB_GETATTR": data the holder has already written back is no modification.</item>
    /// <item>No answer in time, an error, or an unusable fattr4: the delegation is recalled through the engine (an OPEN
    /// for read's break) and the GETATTR answers NFS4ERR_DELAY; once it is returned the server's values are right.</item>
    /// </list>
    /// A delegation already being recalled answers NFS4ERR_DELAY at once; a revoked or returned one is no longer
    /// anybody's to report, so the server's attributes stand. With delegated timestamps (RFC 9754 §5) the holder is also
    /// asked for time_deleg_access and time_deleg_modify; see <see cref="WithHolderTimes"/>.
    /// </summary>
    private static async ValueTask<OpResult<GetAttrResult>> AskHolderAsync(CompoundContext ctx, uint[] requested, FileHandle fh, FileAttributes attrs, DelegationState held)
    {
        switch (held.CurrentStatus)
        {
            case DelegationStatus.Recalling:
                return NfsStat4.Delay;
            case DelegationStatus.Revoked or DelegationStatus.Returned:
                return Answer(ctx, requested, fh, attrs);
        }
        HolderAttributes? answer;
        try
        {
            answer = await CbGetAttrCall.AskAsync(ctx.Server, held).WaitAsync(ctx.Server.Options.CbGetAttrTimeout, ctx.Server.Time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            answer = null;
        }
        if (answer is not { } holder)
        {
            Log.CbGetAttrUnanswered(ctx.Server.Logger, attrs.FileId, held.Id.ToString());
            var change = ctx.ChangeContext;
            var broke = await ctx.Server.Engine.BreakAsync(FileKey.From(attrs.FileId), FileOperation.OpenRead,
                new Owner(change.BreakerGroup, change.BreakerId), BreakMode.NonBlocking).ConfigureAwait(false);
            if (!broke.CanProceed)
                return NfsStat4.Delay;
            var now = ctx.Tree.GetAttributes(fh); // the delegation went meanwhile: the server's attributes are the file's
            return now.IsOk ? Answer(ctx, requested, fh, now.Value) : now.Status.ToNfs();
        }
        if (Volatile.Read(ref held.HolderModified) == 0 && (holder.Change != held.ChangeAtGrant || holder.Size != attrs.Size))
            Interlocked.Exchange(ref held.HolderModified, 1);
        if (held.TimestampsDelegated)
            attrs = WithHolderTimes(ctx, held, holder, attrs);
        if (Volatile.Read(ref held.HolderModified) == 0)
            return Answer(ctx, requested, fh, attrs);
        return Answer(ctx, requested, fh, attrs with { Size = holder.Size, Change = NextReportedChange(held, attrs.Change) });
    }

    /// <summary>
    /// The holder's access and modify times over the server's (RFC 9754 §5), while it holds delegated timestamps. Each time
    /// it reports is vetted (<see cref="DelegationAttributes.Vet"/>: ignored unless after the file's time at grant, clamped
    /// to the server's now) and kept as the latest report, which only moves forward; the file itself is left alone
    /// until the holder sets its times (SETATTR of time_deleg_*, usually before DELEGRETURN). The metadata time is never
    /// shown before the modify time (knfsd moves ctime with a delegated mtime).
    /// </summary>
    private static FileAttributes WithHolderTimes(CompoundContext ctx, DelegationState held, HolderAttributes holder, FileAttributes attrs)
    {
        var now = FsTime.FromDateTimeOffset(ctx.Server.Time.GetUtcNow());
        FsTime? access = null, modify = null;
        if (holder.AccessTime is { } a && DelegationAttributes.Vet(ref a, held.AccessAtGrant, now))
            access = a;
        if (holder.ModifyTime is { } m && DelegationAttributes.Vet(ref m, held.ModifyAtGrant, now))
            modify = m;
        lock (held.ReportedTimesSync)
        {
            var (lastAccess, lastModify) = held.ReportedTimes;
            access = Later(access, lastAccess);
            modify = Later(modify, lastModify);
            held.ReportedTimes = (access, modify);
        }
        if (access is { } reportedAccess)
            attrs = attrs with { AccessTime = reportedAccess };
        if (modify is { } reportedModify)
            attrs = attrs with { ModifyTime = reportedModify, ChangeTime = DelegationAttributes.Max(attrs.ChangeTime, reportedModify) };
        return attrs;
    }

    private static FsTime? Later(FsTime? a, FsTime? b) => a is { } x && b is { } y ? DelegationAttributes.Max(x, y) : a ?? b;

    /// <summary>max(server change, change at grant, last reported) + 1, recorded as the last reported.</summary>
    private static ulong NextReportedChange(DelegationState held, ulong serverChange)
    {
        while (true)
        {
            ulong last = Volatile.Read(ref held.ReportedChange);
            ulong next = Math.Max(Math.Max(serverChange, held.ChangeAtGrant), last) + 1;
            if (Interlocked.CompareExchange(ref held.ReportedChange, next, last) == last)
                return next;
        }
    }

    private static OpResult<GetAttrResult> Answer(CompoundContext ctx, uint[] requested, FileHandle fh, FileAttributes attrs)
    {
        return OpResult<GetAttrResult>.Ok(new GetAttrResult(requested, attrs, fh, ctx.Server.FattrFor(ctx.MinorVersion), ctx.Tree));
    }

    public static void Encode(in OpResult<GetAttrResult> result, XdrWriter w)
    {
        if (result.IsOk)
            FattrEncoder.Write(w, result.Value.Requested, result.Value.Attributes, result.Value.Handle, result.Value.Server, result.Value.Tree);
    }
}
