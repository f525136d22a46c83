namespace Leasehold.Engine;

/// <summary>
/// The conflict matrix of node tokens, and which right each engine operation needs. These are the engine's own
/// admission rules (<see cref="ConflictRules"/>) with the node as the owner: a read delegation cannot coexist with
/// another node's writer, a write delegation with any other use.
/// </summary>
/// <remarks>
/// <code>
///              other node holds:  R    W    DR   DW
///   Read (R)                      -    -    -    x
///   Write (W)                     -    -    x    x
///   ReadDelegation (DR)           -    x    -    x
///   WriteDelegation (DW)          x    x    x    x
/// </code>
/// </remarks>
public static class TokenRules
{
    /// <summary>The rights of another node that conflict with <paramref name="mine"/> (the union over each of its bits).</summary>
    public static TokenRights ConflictingWith(TokenRights mine)
    {
        var c = TokenRights.None;
        if ((mine & TokenRights.Read) != 0)
            c |= TokenRights.WriteDelegation;
        if ((mine & TokenRights.Write) != 0)
            c |= TokenRights.Delegations;
        if ((mine & TokenRights.ReadDelegation) != 0)
            c |= TokenRights.Write | TokenRights.WriteDelegation;
        if ((mine & TokenRights.WriteDelegation) != 0)
            c |= TokenRights.All;
        return c;
    }

    /// <summary>Whether one node holding <paramref name="a"/> and another holding <paramref name="b"/> conflict. Symmetric.</summary>
    public static bool Conflict(TokenRights a, TokenRights b) => (ConflictingWith(a) & b) != 0;

    /// <summary>
    /// The most a node may take when the other nodes together hold <paramref name="others"/>: every right that conflicts
    /// with none of theirs. A node alone on a file gets <see cref="TokenRights.All"/>, so every later open, change and
    /// grant on it stays local.
    /// </summary>
    public static TokenRights Greedy(TokenRights others)
    {
        var take = TokenRights.None;
        foreach (var bit in new[] { TokenRights.Read, TokenRights.Write, TokenRights.ReadDelegation, TokenRights.WriteDelegation })
        {
            if (!Conflict(bit, others))
                take |= bit;
        }
        return take;
    }

    /// <summary>The right an operation by a local or NFS caller needs: <see cref="TokenRights.Read"/> for an open for read, <see cref="TokenRights.Write"/> for the rest.</summary>
    public static TokenRights For(FileOperation op) => op == FileOperation.OpenRead ? TokenRights.Read : TokenRights.Write;

    /// <summary>The rights an open needs.</summary>
    public static TokenRights For(OpenAccess access) =>
        ((access & OpenAccess.Read) != 0 ? TokenRights.Read : 0) | ((access & OpenAccess.Write) != 0 ? TokenRights.Write : 0);

    /// <summary>The right a grant needs: <see cref="TokenRights.ReadDelegation"/> for read leases and delegations, <see cref="TokenRights.WriteDelegation"/> for write ones and for layouts.</summary>
    public static TokenRights For(GrantKind kind, GrantMode mode) =>
        kind != GrantKind.Layout && mode == GrantMode.Read ? TokenRights.ReadDelegation : TokenRights.WriteDelegation;
}
