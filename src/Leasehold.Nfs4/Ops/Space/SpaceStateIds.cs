using Leasehold.Export;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;

namespace Leasehold.Nfs4.Ops;

/// <summary>The checks every NFSv4.2 space operation makes first, in this order.</summary>
internal static class SpaceStateIds
{
    /// <summary>
    /// The current filehandle (NOFILEHANDLE), the tree's space operations (NOTSUPP when it has none), and the stateid
    /// with <paramref name="needed"/> access by READ's and WRITE's rules (<see cref="IoStateIds.Check"/>). On Ok the
    /// caller disposes <paramref name="io"/> when done.
    /// </summary>
    public static NfsStat4 Check(CompoundContext ctx, StateId stateId, Share needed, out FileHandle fh, out IFileSpace space, out UnreservedIo io)
    {
        io = default;
        space = null!;
        if (!ctx.TryGetCurrentFh(out fh, out var status))
            return status;
        if (ctx.Tree.Space is not { } found)
            return NfsStat4.NotSupp;
        space = found;
        return IoStateIds.Check(ctx, stateId, fh, needed, out io);
    }
}
