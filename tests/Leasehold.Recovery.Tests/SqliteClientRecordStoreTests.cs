using System.Text;
using Leasehold.Nfs4.State.Recovery;
using Microsoft.Data.Sqlite;

namespace Leasehold.Recovery.Tests;

/// <summary>
/// The client records in SQLite across "restarts" (a new store on the same directory): epochs, what the next start may
/// reclaim, the end of grace, and a database that is not ours or not readable, which refuses the start with one line.
/// </summary>
public sealed class SqliteClientRecordStoreTests : IDisposable
{
    private static readonly byte[] A = Encoding.UTF8.GetBytes("Linux NFSv4.1 host-a");
    private static readonly byte[] B = Encoding.UTF8.GetBytes("Linux NFSv4.1 host-b");

    private readonly StateDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Records_survive_a_restart_and_each_start_is_a_new_epoch()
    {
        using (var first = new SqliteClientRecordStore(_dir.Path))
        {
            var start = first.Open();
            Assert.Equal(1, start.Epoch);
            Assert.Empty(start.Reclaimable);
            await first.RecordAsync(A, "sys:0");
            await first.RecordAsync(B, "sys:1000");
            await first.RecordAsync(B, "sys:1000"); // again: one row
            await first.RemoveAsync(A);
            await first.RecordAsync(A, "sys:0");
            Assert.Equal(2, first.ReadAll().Count);
        }

        using var second = new SqliteClientRecordStore(_dir.Path);
        var restarted = second.Open();
        Assert.Equal(2, restarted.Epoch);
        var found = restarted.Reclaimable.OrderBy(r => r.Principal, StringComparer.Ordinal).ToArray();
        Assert.Equal(2, found.Length);
        Assert.Equal("sys:0", found[0].Principal);
        Assert.Equal(A, found[0].OwnerId);
        Assert.Equal("sys:1000", found[1].Principal);
        Assert.Equal(B, found[1].OwnerId);
    }

    [Fact]
    public async Task Ending_grace_forgets_the_clients_not_recorded_again_in_this_epoch()
    {
        using (var first = new SqliteClientRecordStore(_dir.Path))
        {
            first.Open();
            await first.RecordAsync(A, "sys:0");
            await first.RecordAsync(B, "sys:0");
        }
        using (var second = new SqliteClientRecordStore(_dir.Path))
        {
            Assert.Equal(2, second.Open().Reclaimable.Count);
            await second.RecordAsync(A, "sys:0"); // A came back and sent RECLAIM_COMPLETE; B never did
            await second.EndGraceAsync();
            var left = Assert.Single(second.ReadAll());
            Assert.Equal(A, left.Record.OwnerId);
            Assert.Equal(2, left.Epoch);
        }
        using var third = new SqliteClientRecordStore(_dir.Path);
        Assert.Equal(A, Assert.Single(third.Open().Reclaimable).OwnerId);
    }

    [Fact]
    public async Task A_restart_during_grace_forgets_nobody()
    {
        using (var first = new SqliteClientRecordStore(_dir.Path))
        {
            first.Open();
            await first.RecordAsync(A, "sys:0");
            await first.RecordAsync(B, "sys:0");
        }
        using (var second = new SqliteClientRecordStore(_dir.Path))
        {
            second.Open();
            await second.RecordAsync(A, "sys:0"); // stopped before grace ended
        }
        using var third = new SqliteClientRecordStore(_dir.Path);
        var start = third.Open();
        Assert.Equal(3, start.Epoch);
        Assert.Equal(2, start.Reclaimable.Count);
    }

    [Fact]
    public void The_database_is_WAL_with_our_application_id_and_schema_version()
    {
        using (var store = new SqliteClientRecordStore(_dir.Path))
            store.Open();
        using var connection = new SqliteConnection($"Data Source={_dir.Database};Pooling=False");
        connection.Open();
        Assert.Equal("wal", Scalar(connection, "PRAGMA journal_mode;"));
        Assert.Equal(SqliteClientRecordStore.ApplicationId, Scalar(connection, "PRAGMA application_id;"));
        Assert.Equal(SqliteClientRecordStore.SchemaVersion, Scalar(connection, "PRAGMA user_version;"));
    }

    [Fact]
    public void A_file_that_is_not_a_database_refuses_the_start_with_one_line()
    {
        File.WriteAllBytes(_dir.Database, Encoding.ASCII.GetBytes(new string('x', 8192)));
        var refused = Assert.Throws<ClientRecordStoreException>(() => new SqliteClientRecordStore(_dir.Path).Open());
        AssertOneLineNaming(refused.Message, "unreadable");
    }

    [Fact]
    public async Task A_truncated_database_refuses_the_start_with_one_line()
    {
        using (var store = new SqliteClientRecordStore(_dir.Path))
        {
            store.Open();
            for (int i = 0; i < 200; i++)
                await store.RecordAsync(Encoding.UTF8.GetBytes($"client {i} {new string('n', 100)}"), "sys:0");
        }
        Checkpoint(); // everything into the main file, then cut it
        using (var file = new FileStream(_dir.Database, FileMode.Open))
            file.SetLength(1024);
        var refused = Assert.Throws<ClientRecordStoreException>(() => new SqliteClientRecordStore(_dir.Path).Open());
        AssertOneLineNaming(refused.Message, "unreadable");
    }

    [Fact]
    public void Another_applications_database_refuses_the_start_with_one_line()
    {
        using (var connection = new SqliteConnection($"Data Source={_dir.Database};Pooling=False"))
        {
            connection.Open();
            using var create = connection.CreateCommand();
            create.CommandText = "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT);";
            create.ExecuteNonQuery();
        }
        var refused = Assert.Throws<ClientRecordStoreException>(() => new SqliteClientRecordStore(_dir.Path).Open());
        AssertOneLineNaming(refused.Message, "is not a leasehold client record database");
    }

    [Fact]
    public void A_newer_schema_version_refuses_the_start()
    {
        using (var store = new SqliteClientRecordStore(_dir.Path))
            store.Open();
        using (var connection = new SqliteConnection($"Data Source={_dir.Database};Pooling=False"))
        {
            connection.Open();
            using var bump = connection.CreateCommand();
            bump.CommandText = "PRAGMA user_version = 2;";
            bump.ExecuteNonQuery();
        }
        var refused = Assert.Throws<ClientRecordStoreException>(() => new SqliteClientRecordStore(_dir.Path).Open());
        AssertOneLineNaming(refused.Message, "schema version 2");
    }

    [Fact]
    public void A_second_lock_on_the_same_state_directory_is_refused_with_the_holders_pid_until_released()
    {
        var held = StateDirectoryLock.Acquire(_dir.Path);
        var refused = Assert.Throws<StateDirectoryInUseException>(() => StateDirectoryLock.Acquire(_dir.Path));
        Assert.Equal(Environment.ProcessId, refused.Pid);
        Assert.Equal($"the state directory {_dir.Path} is in use by another leasehold (pid {Environment.ProcessId}); give this one its own with Export:StateDirectory", refused.Message);

        held.Dispose();
        using var again = StateDirectoryLock.Acquire(_dir.Path);
        Assert.Equal(Environment.ProcessId, StateDirectoryLock.HolderPid(_dir.Path));
    }

    private void Checkpoint()
    {
        using var connection = new SqliteConnection($"Data Source={_dir.Database};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE;";
        command.ExecuteNonQuery();
    }

    private void AssertOneLineNaming(string message, string what)
    {
        Assert.DoesNotContain('\n', message);
        Assert.Contains(_dir.Database, message, StringComparison.Ordinal);
        Assert.Contains(what, message, StringComparison.Ordinal);
        Assert.EndsWith("move the file aside to start without a grace period (clients will not be able to reclaim their opens and locks)", message, StringComparison.Ordinal);
    }

    private static object? Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }
}
