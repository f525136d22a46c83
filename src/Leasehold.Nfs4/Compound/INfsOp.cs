using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Compound;

/// <summary>
/// The one shape every operation has (one class per operation, in Ops/). <see cref="Decode"/> is synchronous over the
/// request bytes (a ref struct cannot live across an await); <see cref="ExecuteAsync"/> sees only the decoded
/// arguments; <see cref="Encode"/> writes the result body after the dispatcher has written the opcode and status.
/// Operations are stateless singletons: state lives in <see cref="CompoundContext"/> and the State/ tables.
/// </summary>
internal interface INfsOp<TArgs, TResult>
{
    static abstract NfsOpcode Opcode { get; }

    static abstract TArgs Decode(ref XdrReader r);

    ValueTask<OpResult<TResult>> ExecuteAsync(CompoundContext ctx, TArgs args, CancellationToken cancellationToken);

    /// <summary>
    /// True when executing these arguments may wait on the disk for long (an fsync, a large transfer): the dispatcher
    /// then moves the compound off a socket event thread onto the thread pool first, so other connections served by
    /// that thread are not held up (see <see cref="Nfs4Program"/>). Page-cache work (small READs and WRITEs, lookups,
    /// attributes) stays where it is.
    /// </summary>
    static virtual bool MayWaitOnDisk(TArgs args) => false;

    /// <summary>Writes the body that follows the status. Most operations write nothing unless the status is Ok.</summary>
    static abstract void Encode(in OpResult<TResult> result, XdrWriter w);
}

/// <summary>Where <see cref="INfsOp{TArgs, TResult}.MayWaitOnDisk"/> draws its lines.</summary>
internal static class DiskWait
{
    /// <summary>A READ or WRITE larger than this (bytes) leaves the socket's event thread: copying it alone takes tens of microseconds, and a miss in the page cache far longer.</summary>
    public const int LargeTransferBytes = 64 * 1024;
}
