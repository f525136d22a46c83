using Leasehold.Nfs4.Ops;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Compound;

// Nfs4Program, the NFSv4.2 space operations' part of the dispatch switch (minor version 2 only).
internal sealed partial class Nfs4Program
{
    private ValueTask<(NfsStat4, int)> DispatchSpaceAsync(NfsOpcode op, CompoundContext ctx, ReadOnlyMemory<byte> args, int position, XdrWriter w, CancellationToken ct) =>
        op switch
        {
            NfsOpcode.Allocate => RunAsync<AllocateOp, SpaceRangeArgs, Unit>(AllocateOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.Deallocate => RunAsync<DeallocateOp, SpaceRangeArgs, Unit>(DeallocateOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.Seek => RunAsync<SeekOp, SeekArgs, SeekResult>(SeekOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.ReadPlus => RunAsync<ReadPlusOp, ReadArgs, ReadPlusResult>(ReadPlusOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.IoAdvise => RunAsync<IoAdviseOp, IoAdviseArgs, uint[]>(IoAdviseOp.Instance, ctx, args, position, w, ct),
            _ => new((WriteBare(w, op, NfsStat4.NotSupp), position)),
        };
}
