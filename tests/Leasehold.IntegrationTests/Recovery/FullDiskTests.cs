using Leasehold.Host.Serving;
using Leasehold.Nfs4.State.Recovery;
using Leasehold.Recovery;
using Microsoft.Extensions.DependencyInjection;

namespace Leasehold.IntegrationTests.Recovery;

/// <summary>The SQLite store, with writes that fail while <see cref="Full"/> is set, as on a full disk.</summary>
public sealed class FailingRecordStore(SqliteClientRecordStore inner) : IClientRecordStore
{
    public SqliteClientRecordStore Inner { get; } = inner;

    public bool Full { get; set; }

    public RecoveryStart Open() => Inner.Open();

    public ValueTask RecordAsync(ReadOnlyMemory<byte> ownerId, string principal) =>
        Full ? ValueTask.FromException(new ClientRecordStoreException("database or disk is full")) : Inner.RecordAsync(ownerId, principal);

    public ValueTask RemoveAsync(ReadOnlyMemory<byte> ownerId) =>
        Full ? ValueTask.FromException(new ClientRecordStoreException("database or disk is full")) : Inner.RemoveAsync(ownerId);

    public ValueTask EndGraceAsync() => Inner.EndGraceAsync();

    public void Dispose() => Inner.Dispose();
}

/// <summary>A <see cref="RecoveryServerFixture"/> whose client records sit on a disk a test can fill.</summary>
public sealed class FullDiskServerFixture : RecoveryServerFixture
{
    private FailingRecordStore? _store;

    public FailingRecordStore Store => _store ?? throw new InvalidOperationException("The server is not running.");

    protected override void ConfigureServices(IServiceCollection services) =>
        services.AddSingleton<ClientRecordStoreFactory>((directory, time) => _store = new FailingRecordStore(new SqliteClientRecordStore(directory, time)));
}

/// <summary>
/// The state directory on a full disk: RECLAIM_COMPLETE and DESTROY_CLIENTID still answer OK (knfsd logs and goes on),
/// and the heartbeat writes the record, or removes it, once the disk has room again.
/// </summary>
public sealed class FullDiskTests(FullDiskServerFixture fx) : IClassFixture<FullDiskServerFixture>
{
    [Fact]
    public async Task A_record_that_could_not_be_written_or_removed_is_retried_by_the_heartbeat()
    {
        string name = ServerFixture.NewName("full");
        fx.Store.Full = true;
        var client = await fx.ConnectAsAsync(name); // RECLAIM_COMPLETE answered OK
        Assert.False(fx.Records.ContainsKey(name));

        fx.Store.Full = false;
        await fx.AdvanceAsync(fx.LeaseTime / 4, client); // one heartbeat
        Assert.True(fx.Records.ContainsKey(name));

        fx.Store.Full = true;
        await client.DisposeAsync(); // DESTROY_CLIENTID answered OK
        Assert.True(fx.Records.ContainsKey(name));
        fx.Store.Full = false;
        await fx.AdvanceAsync(fx.LeaseTime / 4);
        Assert.False(fx.Records.ContainsKey(name));
    }
}
