using System.Collections.Concurrent;
using Leasehold.Export;
using Leasehold.Nfs4.Protocol;

namespace Leasehold.Nfs4.State;

/// <summary>
/// Stateids whose state an administrator revoked (<see cref="Admin.ServerAdmin.RevokeClientState"/>) and whose client has
/// not yet freed them (RFC 8881 §8.2.4, §18.38): every operation that names one answers NFS4ERR_ADMIN_REVOKED, and while
/// a client has any, its SEQUENCE replies carry SEQ4_STATUS_ADMIN_STATE_REVOKED (§18.46.3). FREE_STATEID forgets one;
/// the client going forgets all of its own.
/// </summary>
internal sealed class AdminRevokedStates
{
    private readonly ConcurrentDictionary<StateKey, Revoked> _keys = new();

    /// <summary>
    /// One revoked stateid, as <c>leasehold client show</c> lists it: <paramref name="Id"/> the stateid as the client last
    /// held it, <paramref name="Kind"/> "OPEN", "LOCK" or "DELEGATION", the file it was on.
    /// </summary>
    public sealed record Revoked(NfsClient Client, StateId Id, string Kind, ulong FileId, FileHandle File);

    public int Count => _keys.Count;

    /// <summary>Records that the state <paramref name="revoked"/> names is gone by an administrator's action.</summary>
    public void Add(StateKey key, Revoked revoked)
    {
        if (_keys.TryAdd(key, revoked))
            Interlocked.Increment(ref revoked.Client.AdminRevokedStates);
    }

    /// <summary>Whether <paramref name="key"/> names revoked state of <paramref name="client"/> (any client when null).</summary>
    public bool Contains(StateKey key, NfsClient? client) =>
        _keys.TryGetValue(key, out var revoked) && (client is null || revoked.Client == client);

    /// <summary>The revoked stateids <paramref name="client"/> has not freed yet, in no particular order.</summary>
    public List<Revoked> Of(NfsClient client) => _keys.Values.Where(r => r.Client == client).ToList();

    /// <summary>FREE_STATEID of a revoked stateid: forgets it. False when it is not one of <paramref name="client"/>'s.</summary>
    public bool Free(StateKey key, NfsClient? client)
    {
        if (!_keys.TryGetValue(key, out var revoked) || (client is not null && revoked.Client != client))
            return false;
        if (!_keys.TryRemove(new KeyValuePair<StateKey, Revoked>(key, revoked)))
            return false;
        Interlocked.Decrement(ref revoked.Client.AdminRevokedStates);
        return true;
    }

    /// <summary>The client is gone: its revoked stateids go with it.</summary>
    public void ForgetAll(NfsClient client)
    {
        foreach (var (key, revoked) in _keys)
        {
            if (revoked.Client == client)
                Free(key, client);
        }
    }
}
