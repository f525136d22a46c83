namespace Leasehold.Engine;

// The engine's side of cluster node tokens (see TokenRights and IFileTokens). Each FileState caches the rights the
// node holds on the file; every entry point checks them under the file lock and, lacking them, asks IFileTokens
// outside the lock and tries again. A single server has no IFileTokens and never reaches any of this.
public sealed partial class LeaseEngine
{
    /// <summary>
    /// The fence generation. <see cref="FenceTokens"/> increments it; a <see cref="SetTokenRights"/> carrying an older
    /// generation changes nothing, so an acquisition that raced with a fence cannot bring back rights the fence took.
    /// </summary>
    public long TokenGeneration => throw new NotImplementedException();

    /// <summary>
    /// Records that this node now holds <paramref name="rights"/> (the whole set, not an addition) on <paramref name="file"/>.
    /// Called by the cluster layer once the cluster has granted them, before it answers <see cref="TokenAnswer.Held"/>.
    /// Returns false, changing nothing, when <paramref name="generation"/> is older than <see cref="TokenGeneration"/>.
    /// </summary>
    public bool SetTokenRights(FileKey file, TokenRights rights, long generation) => throw new NotImplementedException();

    /// <summary>The rights this node's engine holds on <paramref name="file"/> (None for a file it does not track).</summary>
    public TokenRights TokenRightsOf(FileKey file) => throw new NotImplementedException();

    /// <summary>
    /// The rights on <paramref name="file"/> something local uses right now: <see cref="TokenRights.Read"/>/<see cref="TokenRights.Write"/>
    /// for registered opens and held changes, <see cref="TokenRights.ReadDelegation"/>/<see cref="TokenRights.WriteDelegation"/>
    /// for live read/write grants (a layout counts as a write grant).
    /// </summary>
    public TokenRights TokenRightsInUse(FileKey file) => throw new NotImplementedException();

    /// <summary>
    /// Gives up the rights among <paramref name="drop"/> that nothing local uses (a Want from another node, or an idle
    /// token lingering too long). Synchronous, under the file lock. Returns the rights still held afterwards.
    /// </summary>
    public TokenRights YieldUnusedTokenRights(FileKey file, TokenRights drop) => throw new NotImplementedException();

    /// <summary>
    /// Gives up <paramref name="drop"/> for another node's Need: from now on no local grant may use those rights
    /// (they are marked yielding), the local grants that do are broken with <paramref name="breaker"/> as the breaker and
    /// at most <paramref name="maxBreakTime"/> to answer, and once they are gone the rights are cleared. Open rights in
    /// <paramref name="drop"/> that local opens still use are kept (opens cannot be recalled; a Need never asks for
    /// them). Completes with the rights still held.
    /// </summary>
    /// <exception cref="OperationCanceledException">The cancellation token fired; the rights stay marked yielding until cleared.</exception>
    public ValueTask<TokenRights> RecallTokenRightsAsync(FileKey file, TokenRights drop, Owner breaker, TimeSpan maxBreakTime, CancellationToken cancellationToken = default) =>
        throw new NotImplementedException();

    /// <summary>
    /// The node has lost (or may have lost) its standing in the cluster: increments <see cref="TokenGeneration"/>, keeps
    /// only <paramref name="keep"/> of every file's rights, and breaks every grant that used a right dropped, with at most
    /// <paramref name="maxBreakTime"/> to answer (zero revokes them at once). Returns the number of grants broken.
    /// </summary>
    public int FenceTokens(TokenRights keep, TimeSpan maxBreakTime) => throw new NotImplementedException();
}
