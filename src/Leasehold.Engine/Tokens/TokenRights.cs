namespace Leasehold.Engine;

/// <summary>
/// What a node of a cluster may do to one file on its own, without asking the others: its per-file token, as a
/// GPFS token or a Ceph capability. The local engine still decides between the node's own clients; the token only
/// says which kinds of use the node has claimed against the other nodes.
/// </summary>
/// <remarks>
/// <para>Rights and what they let the node do locally (the conflict matrix is <see cref="TokenRules"/>):</para>
/// <list type="table">
/// <item><term><see cref="Read"/></term><description>open for read; read data or attributes without an open (a break for <see cref="FileOperation.OpenRead"/>).</description></item>
/// <item><term><see cref="Write"/></term><description>open for write; every change: truncate, setattr, link, unlink, rename, layout change.</description></item>
/// <item><term><see cref="ReadDelegation"/></term><description>grant read leases and read delegations.</description></item>
/// <item><term><see cref="WriteDelegation"/></term><description>grant write leases, write delegations and layouts.</description></item>
/// </list>
/// </remarks>
[Flags]
public enum TokenRights : byte
{
    None = 0,
    Read = 1,
    Write = 2,
    ReadDelegation = 4,
    WriteDelegation = 8,

    /// <summary>The rights that only exist while opens or changes use them (never given up by a recall).</summary>
    Open = Read | Write,

    /// <summary>The rights that back grants (given up by recalling the grants).</summary>
    Delegations = ReadDelegation | WriteDelegation,

    All = Read | Write | ReadDelegation | WriteDelegation,
}

/// <summary>How hard a node asks for rights it lacks.</summary>
public enum TokenStrength : byte
{
    /// <summary>
    /// For opens and changes (<see cref="TokenRights.Read"/>, <see cref="TokenRights.Write"/>): the holders must give up
    /// whatever conflicts, recalling their clients' delegations to do so. Always ends in success while the cluster is
    /// reachable, because open rights never conflict with each other.
    /// </summary>
    Need,

    /// <summary>
    /// For grants (<see cref="TokenRights.Delegations"/>): the holders give up only rights nothing of theirs uses; if
    /// another node's opens or grants stand in the way the answer is <see cref="TokenAnswer.Refused"/>.
    /// </summary>
    Want,
}

/// <summary>The outcome of <see cref="IFileTokens.AcquireAsync"/>.</summary>
public enum TokenAnswer : byte
{
    /// <summary>The rights are held, and were set on the engine (<see cref="LeaseEngine.SetTokenRights"/>) before the answer.</summary>
    Held,

    /// <summary>Other nodes are being asked to give rights back; the acquisition goes on in the background. Only when the caller does not wait.</summary>
    Contended,

    /// <summary>Not now: a Want another node's use stands in the way of, or the node is fenced off the cluster.</summary>
    Refused,
}

/// <summary>
/// The cluster side of per-file node tokens, called by <see cref="LeaseEngine"/> when a file's state lacks the rights an
/// operation needs. Implemented by a cluster layer (Leasehold.Cluster); a single server passes none and the engine never
/// checks a token.
/// </summary>
public interface IFileTokens
{
    /// <summary>
    /// Gets <paramref name="rights"/> on <paramref name="file"/> for this node. Called outside every engine lock.
    /// Completes synchronously, with <see cref="TokenAnswer.Held"/>, when the node already holds them; an uncontended
    /// acquisition is one round trip to the cluster. With <paramref name="wait"/> false, an acquisition that needs
    /// another node to give rights back answers <see cref="TokenAnswer.Contended"/> at once and carries on in the
    /// background (one per file), so the caller's retry finds the rights; with it true the task completes once the
    /// rights are held or refused. <see cref="TokenAnswer.Held"/> means <see cref="LeaseEngine.SetTokenRights"/> was
    /// called before completion; the engine checks again under the file lock and asks again if a yield took them since.
    /// </summary>
    ValueTask<TokenAnswer> AcquireAsync(FileKey file, TokenRights rights, TokenStrength strength, bool wait, CancellationToken cancellationToken);
}
