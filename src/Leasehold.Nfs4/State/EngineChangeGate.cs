using Leasehold.Engine;
using Leasehold.Export;

namespace Leasehold.Nfs4.State;

/// <summary>
/// Wires the exported tree's change gate to the lease engine: before the tree changes a file, conflicting grants
/// (delegations, layouts) are recalled and the file is held until the change is done. The NFS layer asks without
/// blocking (a pending recall answers NFS4ERR_DELAY); a local administrative change may wait.
/// </summary>
public sealed class EngineChangeGate(LeaseEngine engine) : IChangeGate
{
    public async ValueTask<ChangeGrant> BeginAsync(ulong fileId, ChangeKind kind, ChangeContext context, CancellationToken cancellationToken)
    {
        var op = kind switch
        {
            ChangeKind.Write => FileOperation.OpenWrite,
            ChangeKind.Truncate => FileOperation.Truncate,
            ChangeKind.SetAttributes => FileOperation.SetAttributes,
            ChangeKind.Link => FileOperation.Link,
            ChangeKind.Unlink => FileOperation.Unlink,
            ChangeKind.Rename => FileOperation.Rename,
            ChangeKind.SpaceChange => FileOperation.SpaceChange,
            ChangeKind.ExtendedAttributes => FileOperation.SetAttributes,
            _ => (FileOperation?)null,
        };
        if (op is null)
            return ChangeGrant.Proceed; // creating a name changes the directory, and we grant no directory delegations
        var breaker = new Owner(context.BreakerGroup, context.BreakerId);
        var mode = context.NonBlocking ? BreakMode.NonBlocking : BreakMode.Await;
        var change = await engine.BeginChangeAsync(FileKey.From(fileId), op.Value, breaker, mode, cancellationToken).ConfigureAwait(false);
        return change.Result.Status switch
        {
            BreakStatus.Proceed => new ChangeGrant(ChangeRefusal.None, change),
            BreakStatus.LayoutBusy => new ChangeGrant(ChangeRefusal.LayoutBusy, null),
            _ => new ChangeGrant(ChangeRefusal.RecallPending, null),
        };
    }
}
