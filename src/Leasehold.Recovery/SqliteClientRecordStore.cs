using Leasehold.Nfs4.State.Recovery;
using Microsoft.Data.Sqlite;

namespace Leasehold.Recovery;

/// <summary>
/// The client records in <c>&lt;state directory&gt;/clients.db</c>, an SQLite database (as knfsd's nfsdcld keeps its
/// records in /var/lib/nfs/nfsdcld/main.sqlite). WAL journal with synchronous=FULL: every commit fsyncs the WAL, so a
/// record is on disk when <see cref="RecordAsync"/> returns and survives kill -9 and power loss; a torn WAL tail (a
/// crash mid-commit) is an uncommitted transaction that SQLite ignores. Schema (<c>application_id</c> 'LHCR',
/// <c>user_version</c> 1):
/// <code>
/// boot(epoch INTEGER PRIMARY KEY, started INTEGER NOT NULL, grace_ended INTEGER)   -- unix seconds
/// client(owner_id BLOB PRIMARY KEY, principal TEXT NOT NULL, epoch INTEGER NOT NULL, recorded INTEGER NOT NULL) WITHOUT ROWID
/// </code>
/// <see cref="Open"/> adds a boot row (the new epoch) and returns every client row: rows of an epoch whose grace
/// period never ended are still there, so a restart during grace forgets nobody (nfsdcld keeps its recovery epoch for
/// the same reason). <see cref="EndGraceAsync"/> deletes the rows of earlier epochs. One connection, without pooling (a
/// pooled one would keep the file open across an in-process restart); calls are serialized and synchronous (each is one
/// short transaction and its fsync).
/// A file that is not SQLite, is corrupt (<c>PRAGMA quick_check</c>) or is another application's refuses the start:
/// starting without a grace period would let other clients take locks that clients still believe they hold.
/// </summary>
public sealed class SqliteClientRecordStore : IClientRecordStore
{
    /// <summary>The database's name in the state directory.</summary>
    public const string FileName = "clients.db";

    /// <summary>PRAGMA application_id of our databases: 'LHCR' (LeaseHold Client Records).</summary>
    public const long ApplicationId = 0x4C484352;

    /// <summary>PRAGMA user_version: the schema this code reads and writes.</summary>
    public const long SchemaVersion = 1;

    private readonly Lock _sync = new();
    private readonly string _stateDirectory;
    private readonly TimeProvider _time;
    private SqliteConnection? _connection;
    private long _epoch;

    /// <param name="stateDirectory">The server's state directory (it must exist).</param>
    /// <param name="time">Where the operator-facing timestamps (unix seconds) come from.</param>
    public SqliteClientRecordStore(string stateDirectory, TimeProvider? time = null)
    {
        _stateDirectory = stateDirectory;
        _time = time ?? TimeProvider.System;
        Path = System.IO.Path.Join(stateDirectory, FileName);
    }

    /// <summary>The database file.</summary>
    public string Path { get; }

    /// <summary>This instance's boot epoch (0 before <see cref="Open"/>).</summary>
    public long Epoch => _epoch;

    public RecoveryStart Open()
    {
        lock (_sync)
        {
            if (_connection is not null)
                throw new InvalidOperationException("The store is open already.");
            bool existed = File.Exists(Path);
            var connection = new SqliteConnection(new SqliteConnectionStringBuilder
            {
                DataSource = Path,
                Mode = SqliteOpenMode.ReadWriteCreate,
                Pooling = false,
            }.ToString());
            try
            {
                connection.Open();
                Execute(connection, "PRAGMA journal_mode=WAL;");
                Execute(connection, "PRAGMA synchronous=FULL;");
                Execute(connection, "PRAGMA foreign_keys=OFF;");
                CheckOrCreateSchema(connection);
                long now = _time.GetUtcNow().ToUnixTimeSeconds();
                using (var transaction = connection.BeginTransaction())
                {
                    long last = Convert.ToInt64(Scalar(connection, "SELECT coalesce(max(epoch), 0) FROM boot;", transaction) ?? 0L, System.Globalization.CultureInfo.InvariantCulture);
                    _epoch = last + 1;
                    using var insert = Command(connection, "INSERT INTO boot(epoch, started) VALUES ($epoch, $now);", transaction);
                    insert.Parameters.AddWithValue("$epoch", _epoch);
                    insert.Parameters.AddWithValue("$now", now);
                    insert.ExecuteNonQuery();
                    transaction.Commit();
                }
                var reclaimable = new List<ClientRecord>();
                using (var select = Command(connection, "SELECT owner_id, principal FROM client;"))
                using (var reader = select.ExecuteReader())
                {
                    while (reader.Read())
                        reclaimable.Add(new ClientRecord((byte[])reader.GetValue(0), reader.GetString(1)));
                }
                if (!existed)
                    Native.SyncDirectory(_stateDirectory); // the database's name (and its -wal's) must survive a crash too
                _connection = connection;
                return new RecoveryStart(_epoch, reclaimable);
            }
            catch (SqliteException ex)
            {
                connection.Dispose();
                throw new ClientRecordStoreException(Describe(ex), ex);
            }
            catch (ClientRecordStoreException)
            {
                connection.Dispose();
                throw;
            }
            catch (InvalidCastException ex)
            {
                connection.Dispose();
                throw new ClientRecordStoreException(Unreadable($"a value of an unexpected type ({ex.Message.TrimEnd('.')})"), ex);
            }
        }
    }

    /// <summary>A new database gets the schema; an existing one must be ours, of our schema version, and pass quick_check.</summary>
    private void CheckOrCreateSchema(SqliteConnection connection)
    {
        long applicationId = Convert.ToInt64(Scalar(connection, "PRAGMA application_id;"), System.Globalization.CultureInfo.InvariantCulture);
        long version = Convert.ToInt64(Scalar(connection, "PRAGMA user_version;"), System.Globalization.CultureInfo.InvariantCulture);
        long objects = Convert.ToInt64(Scalar(connection, "SELECT count(*) FROM sqlite_schema;"), System.Globalization.CultureInfo.InvariantCulture);
        if (applicationId == 0 && version == 0 && objects == 0)
        {
            using var transaction = connection.BeginTransaction();
            Execute(connection, $"PRAGMA application_id = {ApplicationId};", transaction);
            Execute(connection, $"PRAGMA user_version = {SchemaVersion};", transaction);
            Execute(connection, "CREATE TABLE boot (epoch INTEGER PRIMARY KEY, started INTEGER NOT NULL, grace_ended INTEGER);", transaction);
            Execute(connection, "CREATE TABLE client (owner_id BLOB PRIMARY KEY, principal TEXT NOT NULL, epoch INTEGER NOT NULL, recorded INTEGER NOT NULL) WITHOUT ROWID;", transaction);
            transaction.Commit();
            return;
        }
        if (applicationId != ApplicationId)
            throw new ClientRecordStoreException(Refused($"{Path} is not a leasehold client record database (application_id 0x{applicationId:X8})"));
        if (version != SchemaVersion)
            throw new ClientRecordStoreException(Refused($"the client records in {Path} have schema version {version}, this leasehold reads version {SchemaVersion}"));
        string check = Convert.ToString(Scalar(connection, "PRAGMA quick_check(1);"), System.Globalization.CultureInfo.InvariantCulture) ?? "";
        if (check != "ok")
            throw new ClientRecordStoreException(Unreadable($"quick_check: {check}"));
    }

    public ValueTask RecordAsync(ReadOnlyMemory<byte> ownerId, string principal)
    {
        Write(
            "INSERT INTO client(owner_id, principal, epoch, recorded) VALUES ($owner, $principal, $epoch, $now) " +
            "ON CONFLICT(owner_id) DO UPDATE SET principal = excluded.principal, epoch = excluded.epoch, recorded = excluded.recorded;",
            command =>
            {
                command.Parameters.AddWithValue("$owner", ownerId.ToArray());
                command.Parameters.AddWithValue("$principal", principal);
                command.Parameters.AddWithValue("$epoch", _epoch);
                command.Parameters.AddWithValue("$now", _time.GetUtcNow().ToUnixTimeSeconds());
            });
        return ValueTask.CompletedTask;
    }

    public ValueTask RemoveAsync(ReadOnlyMemory<byte> ownerId)
    {
        Write("DELETE FROM client WHERE owner_id = $owner;", command => command.Parameters.AddWithValue("$owner", ownerId.ToArray()));
        return ValueTask.CompletedTask;
    }

    public ValueTask EndGraceAsync()
    {
        Write("DELETE FROM client WHERE epoch < $epoch; UPDATE boot SET grace_ended = $now WHERE epoch = $epoch;", command =>
        {
            command.Parameters.AddWithValue("$epoch", _epoch);
            command.Parameters.AddWithValue("$now", _time.GetUtcNow().ToUnixTimeSeconds());
        });
        return ValueTask.CompletedTask;
    }

    /// <summary>The recorded clients now (for tests and operators).</summary>
    public IReadOnlyList<(ClientRecord Record, long Epoch)> ReadAll()
    {
        lock (_sync)
        {
            var connection = _connection ?? throw new InvalidOperationException("The store is not open.");
            var all = new List<(ClientRecord, long)>();
            using var select = Command(connection, "SELECT owner_id, principal, epoch FROM client ORDER BY owner_id;");
            using var reader = select.ExecuteReader();
            while (reader.Read())
                all.Add((new ClientRecord((byte[])reader.GetValue(0), reader.GetString(1)), reader.GetInt64(2)));
            return all;
        }
    }

    /// <summary>One statement (or a few) in one transaction: committed, and the WAL fsynced, on return.</summary>
    private void Write(string sql, Action<SqliteCommand> bind)
    {
        lock (_sync)
        {
            var connection = _connection ?? throw new InvalidOperationException("The store is not open.");
            try
            {
                using var transaction = connection.BeginTransaction();
                using var command = Command(connection, sql, transaction);
                bind(command);
                command.ExecuteNonQuery();
                transaction.Commit();
            }
            catch (SqliteException ex)
            {
                throw new ClientRecordStoreException($"cannot write the client records in {Path} (SQLite: {ex.Message.TrimEnd('.')})", ex);
            }
        }
    }

    private static SqliteCommand Command(SqliteConnection connection, string sql, SqliteTransaction? transaction = null)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        return command;
    }

    private static void Execute(SqliteConnection connection, string sql, SqliteTransaction? transaction = null)
    {
        using var command = Command(connection, sql, transaction);
        command.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteConnection connection, string sql, SqliteTransaction? transaction = null)
    {
        using var command = Command(connection, sql, transaction);
        return command.ExecuteScalar();
    }

    /// <summary>One line for a failed open: unreadable (corrupt, not a database) or not writable (full disk, permissions).</summary>
    private string Describe(SqliteException ex)
    {
        const int Perm = 3, ReadOnly = 8, IoErr = 10, Corrupt = 11, Full = 13, CantOpen = 14, NotADb = 26;
        string sqlite = ex.Message.TrimEnd('.');
        return ex.SqliteErrorCode switch
        {
            Corrupt or NotADb => Unreadable(sqlite),
            Full or IoErr or CantOpen or ReadOnly or Perm => $"cannot open the client records in {Path} (SQLite: {sqlite}); free space or fix the permissions of the state directory",
            _ => Unreadable(sqlite),
        };
    }

    private string Unreadable(string why) => Refused($"the client records in {Path} are unreadable ({why})");

    private static string Refused(string what) =>
        $"{what}; move the file aside to start without a grace period (clients will not be able to reclaim their opens and locks)";

    public void Dispose()
    {
        lock (_sync)
        {
            _connection?.Dispose();
            _connection = null;
        }
    }
}
