using Leasehold.Nfs4.Client;

namespace Leasehold.IntegrationTests;

/// <summary>
/// A test class with two clients of its own, A and B (two client ids, one session each), connected before every test
/// and gone after it, on the class's server.
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
        A = await Fx.ConnectAsync();
        B = await Fx.ConnectAsync();
        Assert.NotEqual(A.ClientId, B.ClientId);
    }

    public async Task DisposeAsync()
    {
        await A.DisposeAsync();
        await B.DisposeAsync();
    }
}
