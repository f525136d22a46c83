using Leasehold.Engine;
using Leasehold.Export.LocalAccess;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Leasehold.Nfs4.State;

/// <summary>
/// The engine's <see cref="IGrantAuthority"/> that keeps delegations honest against local processes: a delegation is
/// admitted only with the export's guard on its file (a kernel lease, <see cref="ILocalAccessGuard.Guard"/>: read for a
/// read delegation, write for a write delegation), and the guard is released when the grant ends (DELEGRETURN,
/// FREE_STATEID, the client gone, revocation at the deadline, engine disposal). The engine calls
/// <see cref="OnGrantEnded"/> before it lets any waiting breaker proceed, so a local process held in the kernel by the
/// lease proceeds only once the engine no longer counts the delegation as held.
/// </summary>
/// <remarks>
/// <para>Only delegation grants held by an NFS delegation are guarded; every other grant, and every grant under
/// <see cref="DelegationPolicy.ExclusiveExport"/>, goes to the inner authority alone (the default admits everything;
/// a cluster authority may sit inside). A guarded grant asks the inner authority first, then takes the guard.</para>
/// <para>Refusals: the file open locally in a conflicting way (<see cref="GuardStatus.Busy"/>), a limit
/// (<see cref="GuardStatus.Resource"/>), no guard on this server (<see cref="GuardStatus.Unavailable"/>). The reason is
/// left on the delegation (<see cref="DelegationState.GuardRefusal"/>) for OPEN's why_no_delegation4. A second grant of
/// the same owner on the same file (an in-place change) is refused as Busy: <see cref="DelegationRegistry"/> never asks
/// for one, and two guards for one delegation would leak one.</para>
/// <para>No guard is taken or released under this class's lock: the export may call
/// <see cref="NoteLocalAccess"/> from its watcher thread while it holds its own.</para>
/// </remarks>
public sealed class KernelLeaseAuthority : IGrantAuthority
{
    private readonly DelegationPolicy _policy;
    private readonly IGrantAuthority _inner;
    private readonly ILogger _logger;
    private readonly Lock _sync = new();
    private readonly Dictionary<ulong, List<DelegationState>> _guarded = [];
    private ILocalAccessGuard? _guard;
    private int _count;

    [ThreadStatic]
    private static bool t_inSink;

    /// <param name="policy"><see cref="Nfs4Options.Delegations"/>.</param>
    /// <param name="inner">The authority that judges every grant before this one guards it; null for the in-process one.</param>
    /// <param name="logger">For guards refused for want of resources (Debug).</param>
    public KernelLeaseAuthority(DelegationPolicy policy, IGrantAuthority? inner = null, ILogger? logger = null)
    {
        _policy = policy;
        _inner = inner ?? InProcessGrantAuthority.Instance;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>
    /// Gives the authority the export's guard once the tree exists (the engine, built first, already holds the
    /// authority). Until then, and when the guard's <see cref="ILocalAccessGuard.Mechanism"/> is None, delegations are
    /// refused unless the policy is <see cref="DelegationPolicy.ExclusiveExport"/>.
    /// </summary>
    public void Bind(ILocalAccessGuard guard) => Volatile.Write(ref _guard, guard);

    /// <summary>Whether delegations can be granted at all: under ExclusiveExport, or under On once bound to an export that can guard.</summary>
    public bool GrantsDelegations => _policy == DelegationPolicy.ExclusiveExport
        || (_policy == DelegationPolicy.On && Volatile.Read(ref _guard) is { Mechanism: not LocalAccessMechanism.None });

    /// <summary>Guards held (one per guarded delegation).</summary>
    public int GuardCount => Volatile.Read(ref _count);

    public ValueTask<bool> AdmitAsync(GrantRequest request, CancellationToken cancellationToken)
    {
        if (request.Kind != GrantKind.Delegation || request.Holder is not DelegationState delegation || _policy == DelegationPolicy.ExclusiveExport)
            return _inner.AdmitAsync(request, cancellationToken);
        var admitted = _inner.AdmitAsync(request, cancellationToken);
        if (admitted.IsCompletedSuccessfully)
            return new ValueTask<bool>(admitted.Result && TakeGuard(request, delegation));
        return AwaitInner(request, delegation, admitted);

        async ValueTask<bool> AwaitInner(GrantRequest request, DelegationState delegation, ValueTask<bool> admitted) =>
            await admitted.ConfigureAwait(false) && TakeGuard(request, delegation);
    }

    public void OnGrantEnded(GrantRequest request, Grant? grant)
    {
        if (request.Holder is DelegationState delegation)
            Release(delegation);
        _inner.OnGrantEnded(request, grant);
    }

    /// <summary>
    /// A local process touched <paramref name="fileId"/> (the export's watcher reported it): every delegation guarded on
    /// it, or being guarded right now, is marked so that a grant the engine records only after the break went out is
    /// handed back rather than kept unrecalled (<see cref="DelegationRegistry.TryGrantAsync"/>). Never blocks.
    /// </summary>
    public void NoteLocalAccess(ulong fileId)
    {
        lock (_sync)
        {
            if (_guarded.TryGetValue(fileId, out var holders))
            {
                foreach (var d in holders)
                    d.LocalAccessSeen = true;
            }
        }
    }

    /// <summary>Releases every guard (the server is stopping and the tree goes before the engine). Grants ending later release nothing.</summary>
    public void ReleaseAll()
    {
        List<DelegationState> all;
        lock (_sync)
            all = [.. _guarded.Values.SelectMany(h => h)];
        foreach (var d in all)
            Release(d);
    }

    /// <summary>Marks the current thread as the export's watcher inside a sink call: guards released there are released from the pool.</summary>
    internal static bool EnterSink()
    {
        bool was = t_inSink;
        t_inSink = true;
        return was;
    }

    internal static void ExitSink(bool was) => t_inSink = was;

    private bool TakeGuard(in GrantRequest request, DelegationState delegation)
    {
        var guard = Volatile.Read(ref _guard);
        if (guard is null || guard.Mechanism == LocalAccessMechanism.None)
            return Refuse(request, delegation, GuardStatus.Unavailable);

        bool duplicate = false;
        lock (_sync)
        {
            // Reserve the slot first, so a racing in-place change is refused and a local access reported meanwhile marks it.
            if (!_guarded.TryGetValue(delegation.FileId, out var holders))
                _guarded[delegation.FileId] = holders = [];
            foreach (var d in holders)
                duplicate |= d.Client == delegation.Client;
            if (!duplicate)
                holders.Add(delegation);
        }
        if (duplicate)
            return Refuse(request, delegation, GuardStatus.Busy);

        var mode = delegation.Type == DelegationType.Write ? GuardMode.Write : GuardMode.Read;
        GuardStatus status;
        IDisposable? held;
        try
        {
            status = guard.Guard(delegation.File, mode, out held);
        }
        catch
        {
            Unindex(delegation);
            _inner.OnGrantEnded(request, null);
            throw;
        }
        if (status != GuardStatus.Ok || held is null)
        {
            held?.Dispose();
            Unindex(delegation);
            Log.GuardRefused(_logger, delegation.FileId, mode, status == GuardStatus.Ok ? GuardStatus.Unavailable : status);
            return Refuse(request, delegation, status == GuardStatus.Ok ? GuardStatus.Unavailable : status);
        }
        delegation.LocalGuard = held;
        Interlocked.Increment(ref _count);
        return true;
    }

    private bool Refuse(in GrantRequest request, DelegationState delegation, GuardStatus why)
    {
        delegation.GuardRefusal = why;
        _inner.OnGrantEnded(request, null); // the inner authority admitted it; the engine will not tell it of a refusal by us
        return false;
    }

    private void Release(DelegationState delegation)
    {
        var held = Interlocked.Exchange(ref delegation.LocalGuard, null);
        if (held is null)
            return;
        Unindex(delegation);
        Interlocked.Decrement(ref _count);
        if (t_inSink)
        {
            // The export's watcher thread, inside its report of a local access: not the place to release a kernel lease.
            ThreadPool.UnsafeQueueUserWorkItem(static h => h.Dispose(), held, preferLocal: false);
            return;
        }
        held.Dispose();
    }

    private void Unindex(DelegationState delegation)
    {
        lock (_sync)
        {
            if (_guarded.TryGetValue(delegation.FileId, out var holders) && holders.Remove(delegation) && holders.Count == 0)
                _guarded.Remove(delegation.FileId);
        }
    }
}
