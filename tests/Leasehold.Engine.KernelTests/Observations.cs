using Leasehold.Testing;

namespace Leasehold.Engine.KernelTests;

/// <summary>What a breaker's open came to, in words both sides share.</summary>
public enum OpenOutcome
{
    /// <summary>The kernel's open returned a descriptor; the engine said Proceed.</summary>
    Proceeded,

    /// <summary>The kernel's O_NONBLOCK open failed with EWOULDBLOCK; the engine said WouldBlock.</summary>
    WouldBlock,
}

/// <summary>What a lease holder was asked to do.</summary>
public enum HolderAsked
{
    /// <summary>No break: F_GETLEASE still shows the lease held; the engine's grant is Active.</summary>
    Nothing,

    /// <summary>F_GETLEASE shows F_RDLCK for a held write lease; the engine said <see cref="BreakTarget.Downgrade"/>.</summary>
    Downgrade,

    /// <summary>F_GETLEASE shows F_UNLCK; the engine said <see cref="BreakTarget.Revoke"/>.</summary>
    Unlock,
}

/// <summary>How a lease holder's own F_SETLEASE (or the engine's GrantAsync/Downgrade on its own grant) was answered.</summary>
public enum ChangeAnswer
{
    /// <summary>F_SETLEASE returned 0; the engine said Granted (or Downgrade returned true).</summary>
    Accepted,

    /// <summary>F_SETLEASE failed with EAGAIN; the engine said BreakPending (or Downgrade returned false).</summary>
    Refused,
}

/// <summary>Turns what each side reports into <see cref="OpenOutcome"/>, <see cref="HolderAsked"/> and <see cref="ChangeAnswer"/>.</summary>
internal static class Observe
{
    /// <summary>How long a SIGIO or an engine notice may take to arrive once the break has started.</summary>
    public static readonly TimeSpan NoticeTimeout = TimeSpan.FromSeconds(5);

    /// <summary>How long we give a blocked kernel breaker to finish once nothing holds it back any more.</summary>
    public static readonly TimeSpan UnblockTimeout = TimeSpan.FromSeconds(5);

    public static OpenOutcome Kernel(ProbeReply reply) =>
        reply.Ok ? OpenOutcome.Proceeded
        : reply.WouldBlock ? OpenOutcome.WouldBlock
        : throw new Xunit.Sdk.XunitException($"unexpected kernel error: {reply}");

    public static ChangeAnswer Change(ProbeReply reply) =>
        reply.Ok ? ChangeAnswer.Accepted
        : reply.WouldBlock ? ChangeAnswer.Refused
        : throw new Xunit.Sdk.XunitException($"unexpected kernel error: {reply}");

    public static ChangeAnswer Change(GrantResult result) => result.Status switch
    {
        GrantStatus.Granted => ChangeAnswer.Accepted,
        GrantStatus.BreakPending => ChangeAnswer.Refused,
        _ => throw new Xunit.Sdk.XunitException($"unexpected engine answer: {result.Status}"),
    };

    public static ChangeAnswer Change(bool downgraded) => downgraded ? ChangeAnswer.Accepted : ChangeAnswer.Refused;

    public static OpenOutcome Engine(BreakResult result) => result.Status switch
    {
        BreakStatus.Proceed => OpenOutcome.Proceeded,
        BreakStatus.WouldBlock => OpenOutcome.WouldBlock,
        _ => throw new Xunit.Sdk.XunitException($"unexpected engine result: {result}"),
    };

    /// <summary>
    /// Reads the holder's lease with F_GETLEASE: the held type means no break is pending; anything else is the
    /// break target (fcntl(2): "F_RDLCK to indicate an exclusive lease needs to be changed to a shared lease, F_UNLCK
    /// to indicate the lease needs to be removed"). A break must also have been signalled with a SIGIO.
    /// </summary>
    public static async Task<HolderAsked> KernelAskedAsync(ProbeProcess holder, int fd, KernelLease held, int expectedSigios = 1)
    {
        var now = await holder.GetLeaseAsync(fd);
        if (now == held)
            return HolderAsked.Nothing;
        Assert.True(await holder.WaitForSigiosAsync(expectedSigios, NoticeTimeout),
            $"{holder}: F_GETLEASE says a break is pending ({now}) but only {holder.Sigios} SIGIO(s) arrived");
        return now switch
        {
            KernelLease.Read => HolderAsked.Downgrade,
            KernelLease.Unlock => HolderAsked.Unlock,
            _ => throw new Xunit.Sdk.XunitException($"{holder}: F_GETLEASE gave {now} while {held} was held"),
        };
    }

    /// <summary>Reads the grant's pending break from a snapshot and checks the holder heard the same in its <c>expectedBreaks</c>-th notice.</summary>
    public static async Task<HolderAsked> EngineAskedAsync(EngineScene engine, Grant grant, RecordingHolder holder, int expectedBreaks = 1)
    {
        var snapshot = engine.SnapshotOf(grant);
        if (snapshot is not { State: GrantState.Breaking })
            return HolderAsked.Nothing;
        await holder.WaitForAsync(expectedBreaks, NoticeTimeout);
        var heard = holder.Breaks[expectedBreaks - 1].Target;
        Assert.Equal(snapshot.PendingBreak, heard);
        return heard switch
        {
            BreakTarget.Downgrade => HolderAsked.Downgrade,
            BreakTarget.Revoke => HolderAsked.Unlock,
            _ => throw new Xunit.Sdk.XunitException($"engine asked for {heard}"),
        };
    }
}
