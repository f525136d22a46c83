using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Compound;

// Nfs4Program, the NFSv4.2 xattr operations' part of the dispatch switch (minor version 2 only).
internal sealed partial class Nfs4Program
{
    private static ValueTask<(NfsStat4, int)> DispatchXattrAsync(NfsOpcode op, CompoundContext ctx, ReadOnlyMemory<byte> args, int position, XdrWriter w, CancellationToken ct) =>
        op switch
        {
            _ => new((WriteBare(w, op, NfsStat4.NotSupp), position)),
        };
}
