using System.Collections.Concurrent;
using Leasehold.Testing;

namespace Leasehold.Engine.Tests;

/// <summary>One <see cref="IFileTokens.AcquireAsync"/> call, as the engine made it.</summary>
public sealed record TokenCall(FileKey File, TokenRights Rights, TokenStrength Strength, bool Wait);

/// <summary>
/// A scripted cluster: records every acquisition and answers from <see cref="Answer"/> (Held by default). A Held answer
/// sets the rights through the engine first, as the real cluster layer does (the rights held so far plus those asked
/// for, unless <see cref="SetOnHeld"/> is off), and <see cref="Pending"/>, when set, answers the next call later.
/// </summary>
public sealed class FakeTokens : IFileTokens
{
    private readonly ConcurrentQueue<TokenCall> _calls = new();

    public LeaseEngine? Engine { get; set; }

    public Func<TokenCall, TokenAnswer> Answer { get; set; } = _ => TokenAnswer.Held;

    public bool SetOnHeld { get; set; } = true;

    /// <summary>When set, a Held answer sets exactly these rights (a node alone on the file gets them all) instead of adding the ones asked for.</summary>
    public TokenRights? HeldSets { get; set; }

    /// <summary>Answers the next call when the test completes it (the rights are set before, if Held).</summary>
    public TaskCompletionSource<TokenAnswer>? Pending { get; set; }

    public IReadOnlyList<TokenCall> Calls => [.. _calls];

    public ValueTask<TokenAnswer> AcquireAsync(FileKey file, TokenRights rights, TokenStrength strength, bool wait, CancellationToken cancellationToken)
    {
        var call = new TokenCall(file, rights, strength, wait);
        _calls.Enqueue(call);
        long generation = Engine!.TokenGeneration;
        if (Pending is { } pending)
        {
            Pending = null;
            return Later(pending.Task);
        }
        return new ValueTask<TokenAnswer>(Finish(call, Answer(call), generation));

        async ValueTask<TokenAnswer> Later(Task<TokenAnswer> answer) => Finish(call, await answer.ConfigureAwait(false), generation);
    }

    private TokenAnswer Finish(TokenCall call, TokenAnswer answer, long generation)
    {
        if (answer == TokenAnswer.Held && SetOnHeld)
            Engine!.SetTokenRights(call.File, HeldSets ?? (Engine.TokenRightsOf(call.File) | call.Rights), generation);
        return answer;
    }
}

/// <summary>An engine on a manual clock with a <see cref="FakeTokens"/> cluster, as a cluster node's engine.</summary>
public sealed class TokenFixture : IAsyncDisposable
{
    public TokenFixture(Action<LeaseEngineOptions>? configure = null)
    {
        var options = new LeaseEngineOptions();
        configure?.Invoke(options);
        Clock = new ManualTimeProvider();
        Authority = new RecordingAuthority();
        Tokens = new FakeTokens();
        Engine = new LeaseEngine(options, Clock, authority: Authority, tokens: Tokens);
        Tokens.Engine = Engine;
    }

    public ManualTimeProvider Clock { get; }

    public LeaseEngine Engine { get; }

    public FakeTokens Tokens { get; }

    public RecordingAuthority Authority { get; }

    /// <summary>Gives the node <paramref name="rights"/> on the file as the cluster would.</summary>
    public void Hold(FileKey file, TokenRights rights) => Assert.True(Engine.SetTokenRights(file, rights, Engine.TokenGeneration));

    public GrantResult TryGrant(FileKey file, Owner owner, GrantKind kind, GrantMode mode, IGrantHolder holder) =>
        Engine.GrantAsync(new GrantRequest(file, owner, kind, mode, holder)).Now();

    public Grant Grant(FileKey file, Owner owner, GrantKind kind, GrantMode mode, IGrantHolder holder)
    {
        var result = TryGrant(file, owner, kind, mode, holder);
        Assert.True(result.IsGranted, $"expected {kind} {mode} for {owner} to be granted, got {result.Status}");
        return result.Grant!;
    }

    public BreakResult Open(FileKey file, Owner owner, OpenAccess access) =>
        Engine.OpenAsync(file, owner, access, BreakMode.NonBlocking).Now();

    public ValueTask DisposeAsync() => Engine.DisposeAsync();

    /// <summary>Admits everything and records what it hears back.</summary>
    public sealed class RecordingAuthority : IGrantAuthority
    {
        private readonly ConcurrentQueue<(GrantRequest Request, Grant? Grant)> _ended = new();

        public IReadOnlyList<(GrantRequest Request, Grant? Grant)> Ended => [.. _ended];

        public ValueTask<bool> AdmitAsync(GrantRequest request, CancellationToken cancellationToken) => new(true);

        public void OnGrantEnded(GrantRequest request, Grant? grant) => _ended.Enqueue((request, grant));
    }
}
