using System.Buffers;
using Leasehold.Export;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>The stateid checks READ, WRITE and SETATTR share (RFC 8881 §8.2.2-§8.2.4, §9.1.2).</summary>
internal static class IoStateIds
{
    /// <summary>
    /// Checks the stateid of a READ (<paramref name="needed"/> Read), a WRITE or size-changing SETATTR (Write), or another
    /// SETATTR (None: the stateid is only validated). Share reservations are mandatory (§9.1.2):
    /// <list type="bullet">
    /// <item>The anonymous and READ-bypass stateids (also as the current stateid) are refused with NFS4ERR_LOCKED when
    /// any open, the caller's own included, denies the access. The bypass stateid may bypass byte-range locks only,
    /// and ours are advisory: I/O never checks them.</item>
    /// <item>An open or lock stateid of this client on this file: writing needs the open's write access
    /// (NFS4ERR_OPENMODE). Reading through a write-only open is allowed, as knfsd allows it, unless another open
    /// denies reads (NFS4ERR_LOCKED).</item>
    /// </list>
    /// I/O that no open's access covers is registered in <paramref name="io"/> (dispose it when the I/O is done), so an
    /// OPEN that would deny it answers NFS4ERR_DELAY meanwhile instead of racing it.
    /// </summary>
    public static NfsStat4 Check(CompoundContext ctx, StateId given, FileHandle fh, Share needed, out UnreservedIo io)
    {
        io = default;
        var id = ctx.Resolve(given);
        if (id.IsAnonymous || id.IsBypass)
        {
            if (needed == Share.None)
                return NfsStat4.Ok;
            var attrs = ctx.Tree.GetAttributes(fh);
            if (!attrs.IsOk)
                return attrs.Status.ToNfs();
            return ctx.Server.States.BeginUnreservedIo(attrs.Value.FileId, needed, except: null, out io) ? NfsStat4.Ok : NfsStat4.Locked;
        }
        OpenState? open;
        NfsStat4 status;
        if (ctx.Server.States.IsLockKey(id))
        {
            status = ctx.Server.States.FindLock(id, ctx.Client, out var lockState);
            open = lockState?.Open;
        }
        else
        {
            status = ctx.Server.States.FindOpen(id, ctx.Client, out open);
        }
        if (status != NfsStat4.Ok)
            return status;
        if (open!.File != fh)
            return NfsStat4.BadStateId;
        if (needed == Share.Write && (open.Access & Share.Write) == 0)
            return NfsStat4.OpenMode;
        if (needed == Share.Read && (open.Access & Share.Read) == 0)
            return ctx.Server.States.BeginUnreservedIo(open.FileId, Share.Read, except: open, out io) ? NfsStat4.Ok : NfsStat4.Locked;
        return NfsStat4.Ok;
    }

    /// <summary>
    /// The status for READ or WRITE refused by the tree: a directory is ISDIR, a symlink SYMLINK (§18.22.3), any other
    /// file that is not a regular file WRONG_TYPE. Looked up only on this failure path.
    /// </summary>
    public static NfsStat4 NotAFile(CompoundContext ctx, FileHandle fh, FsStatus status)
    {
        if (status == FsStatus.IsDirectory)
            return NfsStat4.IsDir;
        if (status == FsStatus.WrongType && ctx.Tree.GetAttributes(fh) is { IsOk: true } a && a.Value.Type == FileType.Symlink)
            return NfsStat4.Symlink;
        return status.ToNfs();
    }
}

internal sealed record ReadArgs(StateId StateId, ulong Offset, uint Count);

/// <summary>READ's data, in a pooled buffer that <see cref="ReadOp.Encode"/> returns.</summary>
internal sealed record ReadResult(bool Eof, byte[] Buffer, int Count);

/// <summary>READ, RFC 8881 §18.22.</summary>
internal sealed class ReadOp : INfsOp<ReadArgs, ReadResult>
{
    public static readonly ReadOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.Read;

    public static ReadArgs Decode(ref XdrReader r) => new(StateId.Read(ref r), r.ReadUInt64(), r.ReadUInt32());

    public ValueTask<OpResult<ReadResult>> ExecuteAsync(CompoundContext ctx, ReadArgs args, CancellationToken cancellationToken)
    {
        if (!ctx.TryGetCurrentFh(out var fh, out var status))
            return ValueTask.FromResult<OpResult<ReadResult>>(status);
        status = IoStateIds.Check(ctx, args.StateId, fh, Share.Read, out var io);
        if (status != NfsStat4.Ok)
            return ValueTask.FromResult<OpResult<ReadResult>>(status);
        using var unreserved = io;
        // At or past the end of the file, at any offset, the answer is no data and eof (§18.22.3), never INVAL (a Linux
        // client retries that forever). No file reaches past 2^63-1: such a read asks the tree for 0 bytes there.
        bool beyondAnyFile = args.Offset > long.MaxValue;
        int count = beyondAnyFile ? 0 : (int)Math.Min(args.Count, (uint)ctx.Server.Options.MaxReadWriteSize);
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(count, 1));
        var read = ctx.Tree.Read(ctx.Caller, fh, beyondAnyFile ? long.MaxValue : (long)args.Offset, buffer.AsSpan(0, count));
        if (!read.IsOk)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            return ValueTask.FromResult<OpResult<ReadResult>>(IoStateIds.NotAFile(ctx, fh, read.Status));
        }
        return ValueTask.FromResult(OpResult<ReadResult>.Ok(new ReadResult(read.Value.EndOfFile, buffer, read.Value.Count)));
    }

    public static void Encode(in OpResult<ReadResult> result, XdrWriter w)
    {
        if (result.Value is not { } v)
            return;
        w.WriteBool(v.Eof);
        w.WriteOpaque(v.Buffer.AsSpan(0, v.Count));
        ArrayPool<byte>.Shared.Return(v.Buffer);
    }
}

internal sealed record WriteArgs(StateId StateId, ulong Offset, WriteStability Stable, ReadOnlyMemory<byte> Data);

/// <summary>WRITE, RFC 8881 §18.32: FILE_SYNC and DATA_SYNC data is on disk before the reply.</summary>
internal sealed class WriteOp : INfsOp<WriteArgs, (int Count, WriteStability Committed, ulong Verifier)>
{
    public static readonly WriteOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.Write;

    public static WriteArgs Decode(ref XdrReader r)
    {
        var id = StateId.Read(ref r);
        ulong offset = r.ReadUInt64();
        uint stable = r.ReadUInt32();
        if (stable > 2)
            XdrException.Throw($"stable_how {stable}");
        // The data is copied out of the record: the record's buffer goes back to the pool once decoding moves on.
        var data = r.ReadOpaque(int.MaxValue).ToArray();
        return new WriteArgs(id, offset, (WriteStability)stable, data);
    }

    public async ValueTask<OpResult<(int Count, WriteStability Committed, ulong Verifier)>> ExecuteAsync(CompoundContext ctx, WriteArgs args, CancellationToken cancellationToken)
    {
        if (!ctx.TryGetCurrentFh(out var fh, out var status))
            return status;
        status = IoStateIds.Check(ctx, args.StateId, fh, Share.Write, out var io);
        if (status != NfsStat4.Ok)
            return status;
        using var unreserved = io;
        if (args.Data.Length > ctx.Server.Options.MaxReadWriteSize)
            return NfsStat4.Inval;
        // §18.32.3, as knfsd: a range that ends beyond the largest file (maxfilesize, the filesystem's limit) is FBIG,
        // before anything is written; an offset + length that overflows ends there too.
        ulong maxFileSize = ctx.Tree.MaxFileSize;
        if (args.Offset > maxFileSize || (ulong)args.Data.Length > maxFileSize - args.Offset)
            return NfsStat4.FBig;
        var written = await ctx.Tree.WriteAsync(ctx.Caller, fh, (long)args.Offset, args.Data, args.Stable, ctx.ChangeContext, cancellationToken).ConfigureAwait(false);
        if (!written.IsOk)
            return IoStateIds.NotAFile(ctx, fh, written.Status);
        return OpResult<(int, WriteStability, ulong)>.Ok((written.Value.Count, written.Value.Committed, ctx.Server.BootVerifier));
    }

    public static void Encode(in OpResult<(int Count, WriteStability Committed, ulong Verifier)> result, XdrWriter w)
    {
        if (!result.IsOk)
            return;
        w.WriteUInt32((uint)result.Value.Count);
        w.WriteUInt32((uint)result.Value.Committed);
        w.WriteUInt64(result.Value.Verifier);
    }
}

/// <summary>COMMIT, RFC 8881 §18.3: earlier unstable writes reach the disk; the verifier tells the client whether we restarted since.</summary>
internal sealed class CommitOp : INfsOp<(ulong Offset, uint Count), ulong>
{
    public static readonly CommitOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.Commit;

    public static (ulong Offset, uint Count) Decode(ref XdrReader r) => (r.ReadUInt64(), r.ReadUInt32());

    public ValueTask<OpResult<ulong>> ExecuteAsync(CompoundContext ctx, (ulong Offset, uint Count) args, CancellationToken cancellationToken)
    {
        if (!ctx.TryGetCurrentFh(out var fh, out var status))
            return ValueTask.FromResult<OpResult<ulong>>(status);
        var attrs = ctx.Tree.GetAttributes(fh);
        if (!attrs.IsOk)
            return ValueTask.FromResult<OpResult<ulong>>(attrs.Status.ToNfs());
        if (attrs.Value.Type == FileType.Directory)
            return ValueTask.FromResult<OpResult<ulong>>(NfsStat4.IsDir);
        if (attrs.Value.Type != FileType.Regular)
            return ValueTask.FromResult<OpResult<ulong>>(attrs.Value.Type == FileType.Symlink ? NfsStat4.Symlink : NfsStat4.Inval);
        var committed = ctx.Tree.Commit(fh);
        return ValueTask.FromResult(committed.IsOk ? OpResult<ulong>.Ok(ctx.Server.BootVerifier) : (OpResult<ulong>)committed.Status.ToNfs());
    }

    public static void Encode(in OpResult<ulong> result, XdrWriter w)
    {
        if (result.IsOk)
            w.WriteUInt64(result.Value);
    }
}
