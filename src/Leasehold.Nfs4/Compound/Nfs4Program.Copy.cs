using Leasehold.Nfs4.Ops;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Compound;

// Nfs4Program, the NFSv4.2 copy operations' part of the dispatch switch (minor version 2 only): COPY, OFFLOAD_STATUS,
// OFFLOAD_CANCEL and CLONE (RFC 7862 §15.2, §15.9, §15.8, §15.13).
internal sealed partial class Nfs4Program
{
    private ValueTask<(NfsStat4, int)> DispatchCopyAsync(NfsOpcode op, CompoundContext ctx, ReadOnlyMemory<byte> args, int position, XdrWriter w, CancellationToken ct) =>
        op switch
        {
            NfsOpcode.Copy => RunAsync<CopyOp, CopyArgs, CopyResult>(CopyOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.OffloadStatus => RunAsync<OffloadStatusOp, StateId, OffloadStatusResult>(OffloadStatusOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.OffloadCancel => RunAsync<OffloadCancelOp, StateId, Unit>(OffloadCancelOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.Clone => RunAsync<CloneOp, CloneArgs, Unit>(CloneOp.Instance, ctx, args, position, w, ct),
            _ => new((WriteBare(w, op, NfsStat4.NotSupp), position)),
        };
}
