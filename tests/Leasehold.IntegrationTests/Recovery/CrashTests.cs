using System.Diagnostics;
using Leasehold.Host.Serving;
using Leasehold.Nfs4.Client;
using Xunit.Abstractions;

namespace Leasehold.IntegrationTests.Recovery;

/// <summary>
/// The server killed with SIGKILL and started again on the same export and state directories, as after a crash: what a
/// client relies on without any recovery of its opens and locks. File handles are persistent (RFC 8881 §4.2.1,
/// FH4_PERSISTENT); data a WRITE acknowledged as FILE_SYNC, or an UNSTABLE WRITE then COMMIT, is there (§18.32.3,
/// §18.3.3); the write verifier changes, so a client resends what it wrote UNSTABLE and had not committed (§18.32.3).
/// And the clean stop an init system asks for with SIGTERM ends with exit code 0.
/// </summary>
/// <remarks>
/// SIGKILL ends the process, not the machine: the kernel keeps the page cache, so these tests show that the server
/// holds nothing acknowledged in its own memory, not that the fsyncs reach the disk (which takes a power cut).
/// Each test has a server process of its own. A client comes back after the restart as Linux's does: a new
/// EXCHANGE_ID with the same co_ownerid, then RECLAIM_COMPLETE.
/// </remarks>
public sealed class CrashTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Chunk = 64 * 1024;

    private static readonly AttrBitmap Identity = AttrBitmap.Of(FileAttr.Type, FileAttr.FileId, FileAttr.Size);

    private readonly ProcessServerFixture _server = new();

    public Task InitializeAsync() => _server.InitializeAsync();

    public async Task DisposeAsync()
    {
        output.WriteLine(_server.Log);
        await _server.DisposeAsync();
    }

    /// <summary>The options of one client, the same before and after the restart.</summary>
    private static Nfs4SessionOptions Client(string ownerId) => new() { OwnerId = ownerId };

    /// <summary>Kills the server, checks that the client's connection ended with it, and starts a new server.</summary>
    private async Task CrashAndRestartAsync(Nfs4Session before)
    {
        await _server.KillAsync();
        await before.Rpc.Completion.Bounded(); // the kernel closed the dead process's end of the connection
        await _server.StartAsync();
    }

    [Fact]
    public async Task File_handles_from_before_a_SIGKILL_name_the_same_files_after_the_restart()
    {
        string owner = ServerFixture.NewName("crash-handles");
        var handles = new List<(string What, FileHandle Handle, FileAttributes Attributes)>();
        await using (var before = await _server.ConnectAsync(options: Client(owner)))
        {
            var root = (await before.LookupPathAsync("").Bounded()).ValueOrThrow();
            var dir = (await before.MkdirAsync(root, "dir").Bounded()).ValueOrThrow();
            var file = (await before.CreateAsync(dir, "file").Bounded()).ValueOrThrow();
            Assert.True((await before.WriteAsync(file.FileHandle, file.StateId, 0, ServerFixture.Bytes("kept")).Bounded()).IsOk);
            foreach (var (what, fh) in new[] { ("root", root), ("dir", dir), ("file", file.FileHandle) })
                handles.Add((what, fh, (await before.GetAttrAsync(fh, Identity).Bounded()).ValueOrThrow()));
            await CrashAndRestartAsync(before); // the file still open, the client still there
        }

        await using var after = await _server.ConnectAsync(options: Client(owner));
        foreach (var (what, fh, was) in handles)
        {
            var now = await after.GetAttrAsync(fh, Identity).Bounded();
            Assert.True(now.IsOk, $"GETATTR on the {what}'s handle from before the kill: {now}");
            Assert.Equal(was.FileId, now.Value!.FileId);
            Assert.Equal(was.Type, now.Value.Type);
            Assert.Equal(was.Size, now.Value.Size);
        }
        // The names lead to the very same handles.
        Assert.Equal(handles[0].Handle, (await after.LookupPathAsync("").Bounded()).ValueOrThrow());
        Assert.Equal(handles[1].Handle, (await after.LookupAsync(handles[0].Handle, "dir").Bounded()).ValueOrThrow());
        Assert.Equal(handles[2].Handle, (await after.LookupAsync(handles[1].Handle, "file").Bounded()).ValueOrThrow());
    }

    [Fact]
    public async Task FILE_SYNC_and_COMMITted_UNSTABLE_writes_are_read_back_after_a_SIGKILL()
    {
        string owner = ServerFixture.NewName("crash-data");
        byte[] synced = Pattern(seed: 1, Chunk), committed = Pattern(seed: 2, Chunk);
        FileHandle fh;
        await using (var before = await _server.ConnectAsync(options: Client(owner)))
        {
            var root = (await before.LookupPathAsync("").Bounded()).ValueOrThrow();
            var file = (await before.CreateAsync(root, "data").Bounded()).ValueOrThrow();
            fh = file.FileHandle;

            var fileSync = (await before.WriteAsync(fh, file.StateId, 0, synced, StableHow.FileSync).Bounded()).ValueOrThrow();
            Assert.Equal((uint)Chunk, fileSync.Count);
            Assert.Equal(StableHow.FileSync, fileSync.Committed);

            var unstable = (await before.WriteAsync(fh, file.StateId, Chunk, committed, StableHow.Unstable).Bounded()).ValueOrThrow();
            Assert.Equal((uint)Chunk, unstable.Count);
            // The same instance answers the COMMIT: the verifier says the unstable write is covered by it.
            Assert.Equal(unstable.Verifier, (await before.CommitAsync(fh).Bounded()).ValueOrThrow());

            await CrashAndRestartAsync(before); // right after the COMMIT's reply, the file still open
        }

        await using var after = await _server.ConnectAsync(options: Client(owner));
        Assert.Equal((ulong)(2 * Chunk), (await after.GetAttrAsync(fh, Identity).Bounded()).ValueOrThrow().Size);
        Assert.Equal(synced.Concat(committed).ToArray(), await ReadAllAsync(after, fh));
    }

    [Fact]
    public async Task The_write_verifier_differs_after_a_SIGKILL_restart_so_clients_resend_uncommitted_writes()
    {
        string owner = ServerFixture.NewName("crash-verifier");
        FileHandle fh;
        ulong verifierBefore;
        await using (var before = await _server.ConnectAsync(options: Client(owner)))
        {
            var root = (await before.LookupPathAsync("").Bounded()).ValueOrThrow();
            var file = (await before.CreateAsync(root, "unstable").Bounded()).ValueOrThrow();
            fh = file.FileHandle;
            verifierBefore = (await before.WriteAsync(fh, file.StateId, 0, Pattern(seed: 3, 100), StableHow.Unstable).Bounded()).ValueOrThrow().Verifier;
            Assert.Equal(verifierBefore, (await before.CommitAsync(fh).Bounded()).ValueOrThrow()); // one instance, one verifier
            await CrashAndRestartAsync(before);
        }

        await using var after = await _server.ConnectAsync(options: Client(owner));
        var open = (await after.OpenAsync(fh, ShareAccess.Write).Bounded()).ValueOrThrow();
        ulong verifierAfter = (await after.WriteAsync(fh, open.StateId, 0, Pattern(seed: 3, 100), StableHow.Unstable).Bounded()).ValueOrThrow().Verifier;
        Assert.NotEqual(verifierBefore, verifierAfter);
        Assert.Equal(verifierAfter, (await after.CommitAsync(fh).Bounded()).ValueOrThrow());
    }

    [Fact]
    public async Task SIGTERM_stops_the_server_cleanly_with_exit_code_0_and_closes_its_connections()
    {
        // A client holding an open: the stop has a connection to close and state to release.
        await using var client = await _server.ConnectAsync();
        var root = (await client.LookupPathAsync("").Bounded()).ValueOrThrow();
        (await client.CreateAsync(root, "open-at-stop").Bounded()).ValueOrThrow();

        var stopping = Stopwatch.StartNew();
        int exitCode = await _server.StopAsync();
        stopping.Stop();
        output.WriteLine($"SIGTERM to exit: {stopping.Elapsed.TotalMilliseconds:F0} ms");

        Assert.Equal(0, exitCode);
        Assert.True(stopping.Elapsed < ServeCommand.ShutdownTimeout, $"the clean stop took {stopping.Elapsed}");
        Assert.Contains(_server.Log.Split('\n'), line => line.TrimEnd().EndsWith("Leasehold.Host[5003] Stopped", StringComparison.Ordinal));
        await client.Rpc.Completion.Bounded();
    }

    /// <summary>READs from offset 0 with the anonymous stateid until EOF, at most <see cref="Chunk"/> bytes a call.</summary>
    private static async Task<byte[]> ReadAllAsync(Nfs4Session session, FileHandle fh)
    {
        var data = new List<byte>();
        while (true)
        {
            var read = (await session.ReadAsync(fh, StateId.Anonymous, (ulong)data.Count, Chunk).Bounded()).ValueOrThrow();
            data.AddRange(read.Data.Span);
            if (read.Eof || read.Data.IsEmpty)
                return [.. data];
        }
    }

    /// <summary>Bytes that differ from one offset to the next and from one seed to another, so a misplaced block shows.</summary>
    private static byte[] Pattern(int seed, int length)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}
