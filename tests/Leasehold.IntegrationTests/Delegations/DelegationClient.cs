using Leasehold.Nfs4.Client;
using Leasehold.Nfs4.Client.Callbacks;

namespace Leasehold.IntegrationTests.Delegations;

/// <summary>A client with a back channel whose callbacks a test watches and answers (<see cref="RecordingCallbackHandler"/>).</summary>
internal sealed record DelegationClient(Nfs4Session Session, RecordingCallbackHandler Handler) : IAsyncDisposable
{
    public static async Task<DelegationClient> ConnectAsync(ServerFixture fx, uint backChannelSlots = 1)
    {
        var handler = new RecordingCallbackHandler();
        var session = await fx.ConnectAsync(options: new Nfs4SessionOptions { CallbackHandler = handler, BackChannelSlots = backChannelSlots });
        return new DelegationClient(session, handler);
    }

    /// <summary>The next CB_RECALL this client hears, within <see cref="Waits.Timeout"/>.</summary>
    public async Task<CbRecallEvent> NextRecallAsync()
    {
        using var timeout = new CancellationTokenSource(Waits.Timeout);
        return await Handler.Recalls.ReadAsync(timeout.Token);
    }

    /// <summary>The next CB_GETATTR this client hears, within <see cref="Waits.Timeout"/>.</summary>
    public async Task<CbGetAttrEvent> NextGetAttrAsync()
    {
        using var timeout = new CancellationTokenSource(Waits.Timeout);
        return await Handler.GetAttrs.ReadAsync(timeout.Token);
    }

    public ValueTask DisposeAsync() => Session.DisposeAsync();

    /// <summary>A new file holding "hello", made and closed by the fixture's root session (which holds no delegation).</summary>
    public static async Task<(FileHandle Root, string Name, FileHandle File)> NewFileAsync(ServerFixture fx, string prefix)
    {
        var root = await fx.RootAsync();
        string name = ServerFixture.NewName(prefix);
        var made = (await fx.Session.CreateAsync(root, name).Bounded()).ValueOrThrow();
        Assert.Equal(NfsStat4.Ok, (await fx.Session.WriteAsync(made.FileHandle, made.StateId, 0, ServerFixture.Bytes("hello")).Bounded()).Status);
        Assert.Equal(NfsStat4.Ok, (await fx.Session.CloseAsync(made.FileHandle, made.StateId).Bounded()).Status);
        return (root, name, made.FileHandle);
    }

    /// <summary>Retries <paramref name="op"/> while it answers DELAY (as a client would), at most <see cref="Waits.Timeout"/>.</summary>
    public static async Task<NfsStat4> RetryWhileDelayAsync(Func<Task<NfsStat4>> op)
    {
        var deadline = DateTime.UtcNow + Waits.Timeout;
        while (true)
        {
            var status = await op().Bounded();
            if (status != NfsStat4.Delay || DateTime.UtcNow > deadline)
                return status;
            await Task.Delay(10);
        }
    }
}
