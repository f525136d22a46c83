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

    /// <summary>Writes the body that follows the status. Most operations write nothing unless the status is Ok.</summary>
    static abstract void Encode(in OpResult<TResult> result, XdrWriter w);
}
