using Leasehold.Engine;
using Leasehold.Export;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Nfs4.State.Offload;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>COPY4args (RFC 7862 §15.2.1); <see cref="SourceServers"/> is the length of ca_source_server&lt;&gt;, whose entries are read and dropped.</summary>
internal sealed record CopyArgs(StateId SourceStateId, StateId DestinationStateId, ulong SourceOffset, ulong DestinationOffset, ulong Count,
    bool Consecutive, bool Synchronous, int SourceServers);

/// <summary>COPY4resok: write_response4 (the copy stateid of an asynchronous copy, or the bytes copied) and copy_requirements4.</summary>
internal readonly record struct CopyResult(StateId? CallbackId, long Count, WriteStability Committed, ulong Verifier, bool Synchronous);

/// <summary>
/// COPY, RFC 7862 §15.2, inside this server: SAVED_FH is the source (read with ca_src_stateid), CURRENT_FH the
/// destination (written with ca_dst_stateid), by READ's and WRITE's stateid rules (<see cref="IoStateIds"/>).
/// <list type="bullet">
/// <item>A COPY from another server (ca_source_server not empty) is NFS4ERR_NOTSUPP, as knfsd answers with its
/// inter-server copy off (its default).</item>
/// <item>Another client's write delegation on the source is recalled first (NFS4ERR_DELAY meanwhile), as an OPEN for
/// read would; on the destination the tree's change gate recalls every other client's delegation.</item>
/// <item>Synchronous when the client asks (ca_synchronous) or has no back channel up to hear CB_OFFLOAD: the whole range
/// is copied before the reply, UNSTABLE (the client COMMITs, as after knfsd's synchronous copy). knfsd honours the
/// client's choice whatever the size, and so do we; the Linux client itself asks small copies synchronously.</item>
/// <item>Otherwise asynchronous: the copy starts in the background (<see cref="OffloadTable"/>; NFS4ERR_DELAY when its
/// bounds are reached, as knfsd), the reply carries the copy stateid in wr_callback_id once the copy has passed its
/// checks, and CB_OFFLOAD reports the end, FILE_SYNC (knfsd commits an asynchronous copy too). A copy that fails or
/// ends before it starts (a permission, a recall pending on the destination) is answered here, synchronously.</item>
/// </list>
/// cr_consecutive is true: the bytes are copied in order.
/// </summary>
internal sealed class CopyOp : INfsOp<CopyArgs, CopyResult>
{
    public static readonly CopyOp Instance = new();

    /// <summary>ca_source_server entries read at most (the RFC sets no bound; a client names a few).</summary>
    private const int MaxSourceServers = 16;

    /// <summary>The longest utf8str_cis or netaddr4 string of a netloc4 read (RFC 5665 universal addresses are far shorter).</summary>
    private const int MaxNetLocString = 1024;

    public static NfsOpcode Opcode => NfsOpcode.Copy;

    public static CopyArgs Decode(ref XdrReader r)
    {
        var source = StateId.Read(ref r);
        var destination = StateId.Read(ref r);
        ulong sourceOffset = r.ReadUInt64(), destinationOffset = r.ReadUInt64(), count = r.ReadUInt64();
        bool consecutive = r.ReadBool(), synchronous = r.ReadBool();
        int servers = r.ReadArrayCount(MaxSourceServers, minElementSize: 8);
        for (int i = 0; i < servers; i++)
            SkipNetLoc(ref r);
        return new CopyArgs(source, destination, sourceOffset, destinationOffset, count, consecutive, synchronous, servers);
    }

    /// <summary>netloc4: NL4_NAME or NL4_URL (a utf8str_cis), or NL4_NETADDR (netaddr4: r_netid and r_addr strings).</summary>
    internal static void SkipNetLoc(ref XdrReader r)
    {
        uint type = r.ReadUInt32();
        switch (type)
        {
            case 1 or 2:
                r.ReadOpaque(MaxNetLocString);
                break;
            case 3:
                r.ReadOpaque(MaxNetLocString);
                r.ReadOpaque(MaxNetLocString);
                break;
            default:
                XdrException.Throw($"netloc_type4 {type}");
                break;
        }
    }

    /// <summary>A copy reads and writes the disk, synchronously or for its start.</summary>
    public static bool MayWaitOnDisk(CopyArgs args) => true;

    public async ValueTask<OpResult<CopyResult>> ExecuteAsync(CompoundContext ctx, CopyArgs args, CancellationToken cancellationToken)
    {
        if (args.SourceServers > 0)
            return NfsStat4.NotSupp; // an inter-server copy
        var status = CopyRules.Begin(ctx, args.SourceStateId, args.DestinationStateId, args.SourceOffset, args.DestinationOffset, args.Count, out var start);
        if (status != NfsStat4.Ok)
            return status;
        var (source, destination, space) = (start.Source, start.Destination, start.Space);
        CopyRules.IoPair? held = start.Held;
        try
        {
            var caller = ctx.Caller;
            var change = ctx.ChangeContext;
            long sourceOffset = (long)args.SourceOffset, destinationOffset = (long)args.DestinationOffset, count = (long)args.Count;
            ulong verifier = ctx.Server.BootVerifier;
            if (args.Synchronous || ctx.Client is not { } client || !client.HasUsableBackChannel())
            {
                var copied = await space.CopyAsync(caller, source, sourceOffset, destination, destinationOffset, count, WriteStability.Unstable, change, null, cancellationToken).ConfigureAwait(false);
                if (!copied.IsOk)
                    return CopyRules.NotAFile(ctx, source, destination, copied.Status);
                return OpResult<CopyResult>.Ok(new CopyResult(null, copied.Value.Count, copied.Value.Committed, verifier, Synchronous: true));
            }

            var offload = ctx.Server.Offloads.TryStart(client, destination,
                o => space.CopyAsync(caller, source, sourceOffset, destination, destinationOffset, count, WriteStability.FileSync, change, o.Report, o.Token),
                held);
            if (offload is null)
                return NfsStat4.Delay;
            held = null; // the offload disposes it when the copy stops
            bool asynchronously = false;
            try
            {
                await offload.Started.WaitAsync(cancellationToken).ConfigureAwait(false);
                if (offload.Result is { } done)
                {
                    // Over before the reply (refused, failed, or quick): answered here, and no CB_OFFLOAD.
                    if (!done.IsOk)
                        return CopyRules.NotAFile(ctx, source, destination, done.Status);
                    return OpResult<CopyResult>.Ok(new CopyResult(null, done.Value.Count, done.Value.Committed, verifier, Synchronous: true));
                }
                asynchronously = true;
                return OpResult<CopyResult>.Ok(new CopyResult(offload.StateId, 0, WriteStability.Unstable, verifier, Synchronous: false));
            }
            finally
            {
                OffloadTable.Answered(offload, asynchronously);
            }
        }
        finally
        {
            held?.Dispose();
        }
    }

    public static void Encode(in OpResult<CopyResult> result, XdrWriter w)
    {
        if (!result.IsOk)
            return;
        var value = result.Value;
        if (value.CallbackId is { } id)
        {
            w.WriteUInt32(1);
            id.Write(w);
        }
        else
        {
            w.WriteUInt32(0);
        }
        w.WriteUInt64((ulong)value.Count);
        w.WriteUInt32((uint)value.Committed);
        w.WriteUInt64(value.Verifier);
        w.WriteBool(true); // cr_consecutive
        w.WriteBool(value.Synchronous);
    }
}

/// <summary>What COPY and CLONE share: their checks before the copy (<see cref="Begin"/>), and the status for a file that is not a regular one.</summary>
internal static class CopyRules
{
    /// <summary>
    /// COPY's and CLONE's checks before the tree is asked, in order: CURRENT_FH (the destination) and SAVED_FH (the
    /// source; else NFS4ERR_NOFILEHANDLE), a tree with space operations (else NFS4ERR_NOTSUPP), offsets and a count
    /// that fit in a file offset (else NFS4ERR_INVAL), the source's stateid valid for reading and the destination's
    /// for writing (READ's and WRITE's rules, <see cref="IoStateIds.Check"/>), and no other client's write delegation
    /// on the source (<see cref="RecallSourceWriteDelegations"/>). On NFS4_OK, <paramref name="start"/>'s
    /// <see cref="CopyStart.Held"/> holds both I/O registrations until the caller disposes it.
    /// </summary>
    public static NfsStat4 Begin(CompoundContext ctx, StateId sourceStateId, StateId destinationStateId, ulong sourceOffset, ulong destinationOffset, ulong count,
        out CopyStart start)
    {
        start = default;
        if (!ctx.TryGetCurrentFh(out var destination, out var status))
            return status;
        if (ctx.SavedFh is not { } source)
            return NfsStat4.NoFileHandle;
        if (ctx.Tree.Space is not { } space)
            return NfsStat4.NotSupp;
        if (sourceOffset > long.MaxValue || destinationOffset > long.MaxValue || count > long.MaxValue)
            return NfsStat4.Inval;
        status = IoStateIds.Check(ctx, sourceStateId, source, Share.Read, out var reading);
        if (status != NfsStat4.Ok)
            return status;
        status = IoStateIds.Check(ctx, destinationStateId, destination, Share.Write, out var writing);
        if (status != NfsStat4.Ok)
        {
            reading.Dispose();
            return status;
        }
        var held = new IoPair(reading, writing);
        if ((status = RecallSourceWriteDelegations(ctx, source)) != NfsStat4.Ok)
        {
            held.Dispose();
            return status;
        }
        start = new CopyStart(source, destination, space, held);
        return NfsStat4.Ok;
    }

    /// <summary>The two files of a COPY or CLONE that passed <see cref="Begin"/>, the tree's space operations, and the I/O registrations held for it.</summary>
    public readonly record struct CopyStart(FileHandle Source, FileHandle Destination, IFileSpace Space, IoPair Held);

    /// <summary>The COPY's two I/O registrations (<see cref="UnreservedIo"/>), released together when the copy stops.</summary>
    public sealed class IoPair(UnreservedIo reading, UnreservedIo writing) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
                return;
            reading.Dispose();
            writing.Dispose();
        }
    }
    /// <summary>
    /// The source must be readable without another client's write delegation, whose holder may have newer data (RFC
    /// 8881 §10.4): recalled here, as an OPEN for read would, without waiting (NFS4ERR_DELAY while the recall is
    /// pending). The caller's own delegations stay. A file that does not resolve is left to the copy, which says why.
    /// </summary>
    public static NfsStat4 RecallSourceWriteDelegations(CompoundContext ctx, FileHandle source)
    {
        ulong fileId;
        if (!ctx.Tree.TryGetCachedRegularFileId(source, out fileId))
        {
            var attrs = ctx.Tree.GetAttributes(source);
            if (!attrs.IsOk)
                return NfsStat4.Ok;
            fileId = attrs.Value.FileId;
        }
        var change = ctx.ChangeContext;
        var broke = ctx.Server.Engine.BreakAsync(FileKey.From(fileId), FileOperation.OpenRead, new Owner(change.BreakerGroup, change.BreakerId), BreakMode.NonBlocking);
        // NonBlocking never parks: the answer is there at once.
        return broke.IsCompletedSuccessfully && broke.Result.CanProceed ? NfsStat4.Ok : NfsStat4.Delay;
    }

    /// <summary>
    /// The status for a copy or clone the tree refused as not between regular files (IsDirectory, WrongType): of the
    /// source if it is not a regular file, else of the destination, a directory NFS4ERR_ISDIR, a symlink
    /// NFS4ERR_SYMLINK, anything else NFS4ERR_WRONG_TYPE (as READ and WRITE answer, <see cref="IoStateIds.NotAFile"/>).
    /// </summary>
    public static NfsStat4 NotAFile(CompoundContext ctx, FileHandle source, FileHandle destination, FsStatus status)
    {
        if (status is not (FsStatus.IsDirectory or FsStatus.WrongType))
            return status.ToNfs();
        var culprit = TypeOf(ctx, source) == FileType.Regular ? destination : source;
        return TypeOf(ctx, culprit) switch
        {
            FileType.Directory => NfsStat4.IsDir,
            FileType.Symlink => NfsStat4.Symlink,
            _ => NfsStat4.WrongType,
        };
    }

    private static FileType? TypeOf(CompoundContext ctx, FileHandle handle) =>
        ctx.Tree.GetAttributes(handle) is { IsOk: true } attrs ? attrs.Value.Type : null;
}
