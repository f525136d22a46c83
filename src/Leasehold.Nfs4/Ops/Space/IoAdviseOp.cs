using Leasehold.Export;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

internal sealed record IoAdviseArgs(StateId StateId, ulong Offset, ulong Count, uint[] Hints);

/// <summary>
/// IO_ADVISE, RFC 7862 §15.5: the client's hints (a bitmap4 of IO_ADVISE_type4 values) about [offset, offset+count)
/// (count 0: to the end of the file), answered with the hints the server applied (ior_hints). Hints are never an error
/// (§15.5.3): the ones this server cannot act on, and contradicting ones, are left out of the answer. What the tree
/// can apply is posix_fadvise's page-cache advice (<see cref="IFileSpace.Advise"/>): WILLNEED and DONTNEED. The
/// stateid is validated (it must be this client's and for this file) but grants no access: advice reads and changes
/// nothing, so it recalls no delegation either.
/// </summary>
internal sealed class IoAdviseOp : INfsOp<IoAdviseArgs, uint[]>
{
    public static readonly IoAdviseOp Instance = new();

    // IO_ADVISE_type4 (RFC 7862 §15.5.1), as bit numbers of the bitmap4.
    private const int Normal = 0, Sequential = 1, Random = 3, WillNeed = 4, DontNeed = 6, NoReuse = 7;

    public static NfsOpcode Opcode => NfsOpcode.IoAdvise;

    public static IoAdviseArgs Decode(ref XdrReader r) => new(StateId.Read(ref r), r.ReadUInt64(), r.ReadUInt64(), Wire.ReadBitmap(ref r));

    public ValueTask<OpResult<uint[]>> ExecuteAsync(CompoundContext ctx, IoAdviseArgs args, CancellationToken cancellationToken) =>
        ValueTask.FromResult(Execute(ctx, args));

    private static OpResult<uint[]> Execute(CompoundContext ctx, IoAdviseArgs args)
    {
        var status = SpaceStateIds.Check(ctx, args.StateId, Share.None, out var fh, out var space, out var io);
        if (status != NfsStat4.Ok)
            return status;
        using var unreserved = io;
        var asked = FileAdvice.None;
        foreach (var (bit, advice) in Map)
        {
            if (IsSet(args.Hints, bit))
                asked |= advice;
        }
        // Past 2^63-1 no file reaches: advice there (or a count running past it) is cut at the end of any file.
        long offset = (long)Math.Min(args.Offset, long.MaxValue);
        long length = args.Count > (ulong)(long.MaxValue - offset) ? 0 : (long)args.Count;
        var applied = space.Advise(ctx.Caller, fh, offset, length, asked);
        if (!applied.IsOk)
            return IoStateIds.NotAFile(ctx, fh, applied.Status);
        var hints = new uint[1];
        foreach (var (bit, advice) in Map)
        {
            if ((applied.Value & advice) != 0)
                hints[0] |= 1u << bit;
        }
        return OpResult<uint[]>.Ok(hints);
    }

    private static readonly (int Bit, FileAdvice Advice)[] Map =
    [
        (Normal, FileAdvice.Normal), (Sequential, FileAdvice.Sequential), (Random, FileAdvice.Random),
        (WillNeed, FileAdvice.WillNeed), (DontNeed, FileAdvice.DontNeed), (NoReuse, FileAdvice.NoReuse),
    ];

    private static bool IsSet(uint[] bitmap, int bit) => bit / 32 < bitmap.Length && (bitmap[bit / 32] & (1u << (bit % 32))) != 0;

    public static void Encode(in OpResult<uint[]> result, XdrWriter w)
    {
        if (result.Value is { } hints)
            Wire.WriteBitmap(w, hints);
    }
}
