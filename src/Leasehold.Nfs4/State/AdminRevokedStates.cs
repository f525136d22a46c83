using System.Collections.Concurrent;

namespace Leasehold.Nfs4.State;

/// <summary>
/// Stateids whose state an administrator revoked (<see cref="Admin.ServerAdmin.RevokeClientState"/>) and whose client has
/// not yet freed them (RFC 8881 §8.2.4, §18.38): every operation that names one answers NFS4ERR_ADMIN_REVOKED, and while
/// a client has any, its SEQUENCE replies carry SEQ4_STATUS_ADMIN_STATE_REVOKED (§18.46.3). FREE_STATEID forgets one;
/// the client going forgets all of its own.
/// </summary>
internal sealed class AdminRevokedStates
{
    private readonly ConcurrentDictionary<StateKey, NfsClient> _keys = new();

    public int Count => _keys.Count;

    /// <summary>Records that the state behind <paramref name="key"/>, which <paramref name="client"/> held, is gone by an administrator's action.</summary>
    public void Add(StateKey key, NfsClient client)
    {
        if (_keys.TryAdd(key, client))
            Interlocked.Increment(ref client.AdminRevokedStates);
    }

    /// <summary>Whether <paramref name="key"/> names revoked state of <paramref name="client"/> (any client when null).</summary>
    public bool Contains(StateKey key, NfsClient? client) =>
        _keys.TryGetValue(key, out var holder) && (client is null || holder == client);

    /// <summary>FREE_STATEID of a revoked stateid: forgets it. False when it is not one of <paramref name="client"/>'s.</summary>
    public bool Free(StateKey key, NfsClient? client)
    {
        if (!_keys.TryGetValue(key, out var holder) || (client is not null && holder != client))
            return false;
        if (!_keys.TryRemove(new KeyValuePair<StateKey, NfsClient>(key, holder)))
            return false;
        Interlocked.Decrement(ref holder.AdminRevokedStates);
        return true;
    }

    /// <summary>The client is gone: its revoked stateids go with it.</summary>
    public void ForgetAll(NfsClient client)
    {
        foreach (var (key, holder) in _keys)
        {
            if (holder == client)
                Free(key, client);
        }
    }
}
