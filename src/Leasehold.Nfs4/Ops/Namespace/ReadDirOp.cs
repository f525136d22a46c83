using Leasehold.Export;
using Leasehold.Nfs4.Attributes;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

internal sealed record ReadDirArgs(ulong Cookie, ulong Verifier, uint DirCount, uint MaxCount, uint[] Requested);

internal sealed record ReadDirResult(ulong Verifier, byte[] Entries, bool Eof);

/// <summary>
/// READDIR, RFC 8881 §18.23. Cookies come from the tree and stay valid across calls; the cookie verifier is constant
/// for the life of the server, so a cookie from before a restart is refused (NOT_SAME) rather than misread.
/// </summary>
internal sealed class ReadDirOp : INfsOp<ReadDirArgs, ReadDirResult>
{
    public static readonly ReadDirOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.ReadDir;

    public static ReadDirArgs Decode(ref XdrReader r) =>
        new(r.ReadUInt64(), Wire.ReadVerifier(ref r), r.ReadUInt32(), r.ReadUInt32(), Wire.ReadBitmap(ref r));

    /// <summary>A listing reads directory blocks (and stats every entry): off the socket's event thread.</summary>
    public static bool MayWaitOnDisk(ReadDirArgs args) => true;

    public ValueTask<OpResult<ReadDirResult>> ExecuteAsync(CompoundContext ctx, ReadDirArgs args, CancellationToken cancellationToken)
    {
        var status = Directories.RequireDirectory(ctx, ctx.CurrentFh, NfsStat4.NoFileHandle, out var dir, out _);
        if (status != NfsStat4.Ok)
            return Done(status);
        if (args.Cookie is 1 or 2)
            return Done(NfsStat4.BadCookie);
        ulong verifier = ctx.Server.BootVerifier;
        if (args.Cookie != 0 && args.Verifier != verifier)
            return Done(NfsStat4.NotSame);
        if (Attr.IsSet(args.Requested, Attr.TimeAccessSet) || Attr.IsSet(args.Requested, Attr.TimeModifySet))
            return Done(NfsStat4.Inval);

        // The reply must fit maxcount: its fixed parts take 16 bytes (verifier, end-of-list marker, eof).
        int budget = (int)Math.Min(args.MaxCount, (uint)ctx.Server.Options.MaxReadWriteSize) - 16;
        int maxEntries = Math.Clamp(budget / 32, 1, 4096);
        var listed = ctx.Tree.ReadDirectory(ctx.Caller, dir, args.Cookie, maxEntries);
        if (!listed.IsOk)
            return Done(listed.Status == FsStatus.Invalid ? NfsStat4.BadCookie : listed.Status.ToNfs());

        using var w = new XdrWriter(4096);
        var (entries, end) = listed.Value;
        int written = 0;
        foreach (var e in entries)
        {
            int mark = w.Position;
            w.WriteBool(true);
            w.WriteUInt64(e.Cookie);
            w.WriteOpaque(e.Name.Bytes); // the stored bytes: LOOKUP of them finds this entry
            FattrEncoder.Write(w, args.Requested, e.Attributes, e.Handle, ctx.Server.FattrFor(ctx.MinorVersion), statsFrom: null);
            if (w.Position > budget)
            {
                w.Truncate(mark);
                end = false;
                break;
            }
            written++;
        }
        if (written == 0 && entries.Count > 0)
            return Done(NfsStat4.TooSmall);
        return ValueTask.FromResult(OpResult<ReadDirResult>.Ok(new ReadDirResult(verifier, w.WrittenSpan.ToArray(), end && written == entries.Count)));
    }

    private static ValueTask<OpResult<ReadDirResult>> Done(NfsStat4 status) => ValueTask.FromResult<OpResult<ReadDirResult>>(status);

    public static void Encode(in OpResult<ReadDirResult> result, XdrWriter w)
    {
        if (result.Value is not { } v)
            return;
        w.WriteUInt64(v.Verifier);
        v.Entries.CopyTo(w.GetSpan(v.Entries.Length));
        w.Advance(v.Entries.Length);
        w.WriteBool(false); // no more entries in this reply
        w.WriteBool(v.Eof);
    }
}
