using Leasehold.Nfs4.Ops;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Compound;

// Nfs4Program, the NFSv4.2 xattr operations' part of the dispatch switch (minor version 2 only; RFC 8276 §8.4).
internal sealed partial class Nfs4Program
{
    private ValueTask<(NfsStat4, int)> DispatchXattrAsync(NfsOpcode op, CompoundContext ctx, ReadOnlyMemory<byte> args, int position, XdrWriter w, CancellationToken ct) =>
        op switch
        {
            NfsOpcode.GetXattr => RunAsync<GetXattrOp, byte[], byte[]>(GetXattrOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.SetXattr => RunAsync<SetXattrOp, SetXattrArgs, ChangeInfo>(SetXattrOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.ListXattrs => RunAsync<ListXattrsOp, (ulong Cookie, uint MaxCount), ListXattrsResult>(ListXattrsOp.Instance, ctx, args, position, w, ct),
            NfsOpcode.RemoveXattr => RunAsync<RemoveXattrOp, byte[], ChangeInfo>(RemoveXattrOp.Instance, ctx, args, position, w, ct),
            _ => new((WriteBare(w, op, NfsStat4.NotSupp), position)),
        };
}
