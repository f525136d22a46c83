namespace Leasehold.Engine.Tests.Stress;

/// <summary>How a stress holder answers a break.</summary>
internal enum HolderBehaviour : byte
{
    /// <summary>Answers inside the notice: releases on Revoke, downgrades on Downgrade.</summary>
    Prompt,

    /// <summary>Always tries to downgrade inside the notice (refused under a Revoke); on Revoke also releases a little later (maybe too late).</summary>
    Downgrader,

    /// <summary>Answers as Prompt does, after a random delay of up to one and a half break times (so often too late).</summary>
    Delayed,

    /// <summary>Never answers a break: the deadline must fire.</summary>
    Silent,
}

internal enum HolderEventKind : byte
{
    Break,
    Expired,
    Released,

    /// <summary>
    /// The holder changed its own grant and the engine said yes: a second request for the same kind that came back
    /// Granted with this grant, or a Downgrade that returned true. <see cref="HolderEvent.Mode"/> is the mode asked for
    /// (Read or Shared for a Downgrade), <see cref="HolderEvent.Started"/> when the call began.
    /// </summary>
    Changed,
}

/// <summary>One thing that happened to a grant, with the real time it happened (or was heard of).</summary>
internal readonly record struct HolderEvent(
    HolderEventKind Kind, DateTimeOffset At, BreakTarget Target, DateTimeOffset Deadline, GrantMode Mode = default, DateTimeOffset Started = default);

/// <summary>
/// A grant holder for the stress run. It answers breaks according to its <see cref="HolderBehaviour"/>, always
/// releases a grant the engine revoked (at once or after a delay), and keeps a log of what happened to its grant,
/// which <see cref="StressRun"/> checks at the end: every break ended by its deadline plus the slack.
/// </summary>
/// <remarks>
/// The engine hands a second request by the same owner for the same kind the existing grant, with the holder of the
/// first request, so one holder hears of exactly one grant. Notices for it may arrive on two pool threads at once,
/// hence the lock around the log.
/// </remarks>
internal sealed class StressHolder(StressRun run, HolderBehaviour behaviour, int seed) : IGrantHolder
{
    private readonly Lock _lock = new();
    private readonly List<HolderEvent> _events = [];
    private readonly Random _random = new(seed);

    public HolderBehaviour Behaviour { get; } = behaviour;

    public IReadOnlyList<HolderEvent> Events
    {
        get
        {
            lock (_lock)
                return [.. _events];
        }
    }

    public void Record(HolderEventKind kind, BreakTarget target = BreakTarget.None, DateTimeOffset deadline = default)
    {
        var at = run.Now;
        lock (_lock)
            _events.Add(new HolderEvent(kind, at, target, deadline));
    }

    /// <summary>Logs a change the engine accepted: <paramref name="mode"/> asked for by a call that began at <paramref name="started"/>.</summary>
    public void RecordChange(GrantMode mode, DateTimeOffset started)
    {
        var at = run.Now;
        lock (_lock)
            _events.Add(new HolderEvent(HolderEventKind.Changed, at, BreakTarget.None, default, mode, started));
    }

    public void OnBreak(Grant grant, BreakTarget target, DateTimeOffset deadline)
    {
        Record(HolderEventKind.Break, target, deadline);
        run.Count("holder.break." + target);
        if (target == BreakTarget.None)
            run.Violation($"break notice with no target for {grant}");
        var breakTime = run.BreakTime(grant.Kind);
        if (breakTime == TimeSpan.Zero)
            run.Violation($"break notice for {grant} although its kind has a break time of zero (it should be taken back at once)");
        if (deadline > run.Now + breakTime + StressRun.Epsilon)
            run.Violation($"break notice for {grant} with deadline {deadline:O} more than the break time {breakTime.TotalMilliseconds} ms away");

        switch (Behaviour)
        {
            case HolderBehaviour.Prompt:
                Answer(grant, target);
                break;
            case HolderBehaviour.Downgrader:
                Guard(() => run.Downgrade(grant)); // refused under a Revoke: only a release answers one
                if (target == BreakTarget.Revoke)
                    run.Track(AnswerLaterAsync(grant, target, NextDelay(breakTime / 2)));
                break;
            case HolderBehaviour.Delayed:
                run.Track(AnswerLaterAsync(grant, target, NextDelay(breakTime + breakTime / 2)));
                break;
            case HolderBehaviour.Silent:
                break;
        }
    }

    public void OnBreakExpired(Grant grant, BreakTarget applied)
    {
        Record(HolderEventKind.Expired, applied);
        run.Count("holder.expired." + applied);
        if (applied == BreakTarget.Revoke)
        {
            // Read without the lock, so possibly a moment stale, but the revocation happened before this notice was queued.
            if (grant.State is not (GrantState.Revoked or GrantState.Released))
                run.Violation($"told {grant} was revoked, but its state is {grant.State}");
            if (Behaviour == HolderBehaviour.Delayed)
                run.Track(ReleaseLaterAsync(grant, NextDelay(run.BreakTime(grant.Kind))));
            else
                run.Release(grant);
        }
    }

    private void Answer(Grant grant, BreakTarget target) => Guard(() =>
    {
        if (target == BreakTarget.Revoke)
            run.Release(grant);
        else
            run.Downgrade(grant);
    });

    private async Task AnswerLaterAsync(Grant grant, BreakTarget target, TimeSpan delay)
    {
        await Task.Delay(delay).ConfigureAwait(false);
        Answer(grant, target);
    }

    private async Task ReleaseLaterAsync(Grant grant, TimeSpan delay)
    {
        await Task.Delay(delay).ConfigureAwait(false);
        run.Release(grant);
    }

    /// <summary>Only the dispose test lets the engine go away under a holder; there ObjectDisposedException is the expected answer.</summary>
    private void Guard(Action answer)
    {
        try
        {
            answer();
        }
        catch (ObjectDisposedException) when (run.Engine.IsDisposed)
        {
            run.Count("holder.answer-after-dispose");
        }
    }

    private TimeSpan NextDelay(TimeSpan max)
    {
        lock (_lock)
            return TimeSpan.FromTicks((long)(_random.NextDouble() * max.Ticks));
    }
}
