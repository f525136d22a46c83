using Leasehold.Nfs4.Client;

namespace Leasehold.IntegrationTests;

/// <summary>
/// A test class with two clients of its own, A and B (two client ids, one session each), connected before every test
/// and gone after it, on the class's server. Neither binds a back channel, so neither is granted a delegation: these
/// tests are about opens, locks and deny modes between clients, and a write delegation held by the first to open a file
/// would turn the other's OPEN into a recall (NFS4ERR_DELAY) that these clients never answer with DELEGRETURN.
/// </summary>
public abstract class TwoClientTests(ServerFixture fx) : IAsyncLifetime
{
    /// <summary>The class's server.</summary>
    protected ServerFixture Fx { get; } = fx;

    /// <summary>The first client.</summary>
    protected Nfs4Session A { get; private set; } = null!;

    /// <summary>The second client: another client id, so its opens, locks and deny modes are not A's.</summary>
    protected Nfs4Session B { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        A = await Fx.ConnectAsync(options: new Nfs4SessionOptions { BackChannel = false });
        B = await Fx.ConnectAsync(options: new Nfs4SessionOptions { BackChannel = false });
        Assert.NotEqual(A.ClientId, B.ClientId);
    }

    public async Task DisposeAsync()
    {
        await A.DisposeAsync();
        await B.DisposeAsync();
    }
}
