using Leasehold.Engine;
using Leasehold.Testing;

namespace Leasehold.Engine.Tests;

/// <summary>
/// A fresh engine on a manual clock for each test, with short helpers for the common calls. Tests that need
/// other options or an authority build their own with <see cref="Create"/>.
/// </summary>
public sealed class EngineFixture : IAsyncDisposable
{
    public static readonly FileKey FileA = FileKey.From(1);
    public static readonly FileKey FileB = FileKey.From(2);

    public static readonly Owner Alice = new(1, 1);
    public static readonly Owner AliceOther = new(1, 2);
    public static readonly Owner Bob = new(2, 1);
    public static readonly Owner Carol = new(3, 1);

    public EngineFixture(LeaseEngineOptions? options = null, IOwnerMatcher? matcher = null, IGrantAuthority? authority = null)
    {
        Clock = new ManualTimeProvider();
        Engine = new LeaseEngine(options, Clock, matcher, authority);
    }

    public static EngineFixture Create(Action<LeaseEngineOptions>? configure = null, IOwnerMatcher? matcher = null, IGrantAuthority? authority = null)
    {
        var options = new LeaseEngineOptions();
        configure?.Invoke(options);
        return new EngineFixture(options, matcher, authority);
    }

    public ManualTimeProvider Clock { get; }

    public LeaseEngine Engine { get; }

    public Grant Grant(FileKey file, Owner owner, GrantKind kind, GrantMode mode, IGrantHolder holder)
    {
        var result = TryGrant(file, owner, kind, mode, holder);
        Assert.True(result.IsGranted, $"expected {kind} {mode} for {owner} to be granted, got {result.Status}");
        return result.Grant!;
    }

    public GrantResult TryGrant(FileKey file, Owner owner, GrantKind kind, GrantMode mode, IGrantHolder holder)
    {
        // The in-process authority answers synchronously.
        return Engine.GrantAsync(new GrantRequest(file, owner, kind, mode, holder)).Now();
    }

    public BreakResult Open(FileKey file, Owner owner, OpenAccess access)
    {
        return Engine.OpenAsync(file, owner, access, BreakMode.NonBlocking).Now();
    }

    public BreakResult Break(FileKey file, FileOperation op, Owner breaker)
    {
        return Engine.BreakAsync(file, op, breaker, BreakMode.NonBlocking).Now();
    }

    /// <summary>Moves the clock past two idle sweeps, after which every idle file state is gone.</summary>
    public void SweepIdleStates() => Clock.Advance(2 * new LeaseEngineOptions().IdleSweepInterval + TimeSpan.FromTicks(1));

    public ValueTask DisposeAsync() => Engine.DisposeAsync();
}
