using Leasehold.Nfs4.Client;
using Leasehold.Nfs4.Client.Callbacks;

namespace Leasehold.IntegrationTests.V42;

/// <summary>
/// Server-side copy over the wire (RFC 7862): COPY synchronous and asynchronous with CB_OFFLOAD, OFFLOAD_STATUS,
/// OFFLOAD_CANCEL, the recalls COPY makes first, and CLONE's honest answer on a filesystem that cannot clone.
/// </summary>
public sealed class CopyTests(ServerFixture fx) : IClassFixture<ServerFixture>
{
    private const long GiB = 1L << 30;

    /// <summary>How long a 1 GiB copy (through the page cache, then fsynced) may take here: far more than it needs.</summary>
    private static readonly TimeSpan CopyTimeout = TimeSpan.FromMinutes(2);

    /// <summary>Marks written into the sparse source at these offsets (16 bytes each); the rest is holes.</summary>
    private static readonly long[] Marks = [0, 300L << 20, GiB / 2 + 12345, GiB - 16];

    /// <summary>A 4.2 client with a back channel whose callbacks the test reads.</summary>
    private async Task<(Nfs4Session Session, RecordingCallbackHandler Handler)> ConnectAsync()
    {
        var handler = new RecordingCallbackHandler();
        var session = await fx.ConnectAsync(options: new Nfs4SessionOptions { MinorVersion = 2, CallbackHandler = handler });
        return (session, handler);
    }

    private async Task<(FileHandle Handle, string Path)> DiskFileAsync(string prefix, byte[]? data = null, long? sparseLength = null)
    {
        string name = ServerFixture.NewName(prefix);
        string path = Path.Join(fx.ExportPath, name);
        if (sparseLength is { } length)
        {
            await using var f = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
            f.SetLength(length);
            foreach (long at in Marks)
            {
                f.Position = at;
                f.Write(Mark(at));
            }
        }
        else
        {
            await File.WriteAllBytesAsync(path, data ?? []);
        }
        var root = await fx.RootAsync();
        return ((await fx.Session.LookupAsync(root, name).Bounded()).ValueOrThrow(), path);
    }

    private static byte[] Mark(long at) => System.Text.Encoding.ASCII.GetBytes($"{at,16}");

    private static CompoundBuilder Copy(FileHandle source, FileHandle destination, ulong count, bool synchronous, ulong sourceOffset = 0, ulong destinationOffset = 0) =>
        new CompoundBuilder("copy").PutFh(source).SaveFh().PutFh(destination).Copy(default, default, sourceOffset, destinationOffset, count, synchronous);

    private static async Task<OffloadStatusResult> StatusAsync(Nfs4Session session, FileHandle destination, StateId copy)
    {
        using var c = new CompoundBuilder("status").PutFh(destination).OffloadStatus(copy);
        var reply = await session.CompoundAsync(c).Bounded();
        return reply.Find<OffloadStatusResult>() ?? throw new InvalidOperationException(reply.ToString());
    }

    private static async Task<CbOffloadEvent> NextOffloadAsync(RecordingCallbackHandler handler)
    {
        using var timeout = new CancellationTokenSource(CopyTimeout);
        return await handler.Offloads.ReadAsync(timeout.Token);
    }

    [Fact]
    public async Task A_synchronous_copy_copies_the_range_before_the_reply()
    {
        var data = new byte[3 << 20];
        new Random(12).NextBytes(data);
        var (source, _) = await DiskFileAsync("src", data);
        var (destination, destinationPath) = await DiskFileAsync("dst");
        var (session, _) = await ConnectAsync();
        await using var _ = session;

        using var c = Copy(source, destination, count: 2 << 20, synchronous: true, sourceOffset: 1 << 20, destinationOffset: 100);
        var reply = await session.CompoundAsync(c).Bounded();

        Assert.Equal(NfsStat4.Ok, reply.Status);
        var copied = reply.Get<CopyResult>();
        Assert.Null(copied.CallbackId);
        Assert.Equal(2ul << 20, copied.Count);
        Assert.True(copied.Consecutive);
        Assert.True(copied.Synchronous);
        Assert.Equal(StableHow.Unstable, copied.Committed); // the client COMMITs, as after knfsd's synchronous copy
        byte[] written = await File.ReadAllBytesAsync(destinationPath);
        Assert.Equal(100 + (2 << 20), written.Length);
        Assert.Equal(data.AsSpan(1 << 20, 2 << 20).ToArray(), written[100..]);
    }

    [Fact]
    public async Task An_asynchronous_copy_of_a_sparse_1_GiB_file_answers_a_copy_stateid_and_ends_with_CB_OFFLOAD()
    {
        var (source, _) = await DiskFileAsync("sparse", sparseLength: GiB);
        var (destination, destinationPath) = await DiskFileAsync("copy");
        var (session, handler) = await ConnectAsync();
        await using var _ = session;
        try
        {
            using var c = Copy(source, destination, count: 0, synchronous: false);
            var reply = await session.CompoundAsync(c).Bounded();

            Assert.Equal(NfsStat4.Ok, reply.Status);
            var started = reply.Get<CopyResult>();
            Assert.False(started.Synchronous);
            StateId copy = Assert.NotNull(started.CallbackId);
            var running = await StatusAsync(session, destination, copy);
            Assert.Equal(NfsStat4.Ok, running.Status); // running (no osr_complete) or done and waiting for the CB_OFFLOAD answer
            Assert.True(running.Complete is null or NfsStat4.Ok, $"OFFLOAD_STATUS complete {running.Complete}");

            var done = await NextOffloadAsync(handler);

            Assert.Equal(copy, done.StateId);
            Assert.Equal(destination, done.FileHandle);
            Assert.Equal(NfsStat4.Ok, done.Status);
            Assert.Equal((ulong)GiB, done.Count);
            Assert.Equal(StableHow.FileSync, done.Committed);
            Assert.Equal(started.Verifier, done.Verifier);
            Assert.Equal(GiB, new FileInfo(destinationPath).Length);
            await using (var f = new FileStream(destinationPath, FileMode.Open, FileAccess.Read))
            {
                var buffer = new byte[16];
                foreach (long at in Marks)
                {
                    f.Position = at;
                    f.ReadExactly(buffer);
                    Assert.Equal(Mark(at), buffer);
                }
                f.Position = 200L << 20; // inside a hole of the source: zeros
                f.ReadExactly(buffer);
                Assert.Equal(new byte[16], buffer);
            }
            // RFC 7862 §4.8: the client's answer to CB_OFFLOAD ends the copy stateid.
            await Waits.WaitUntilAsync(async () => (await StatusAsync(session, destination, copy)).Status == NfsStat4.BadStateId, "the copy stateid ends");
        }
        finally
        {
            File.Delete(destinationPath); // a GiB of zeros on disk: not kept until the fixture goes
        }
    }

    [Fact]
    public async Task OFFLOAD_CANCEL_stops_an_asynchronous_copy_ends_its_stateid_and_no_CB_OFFLOAD_follows()
    {
        var (source, _) = await DiskFileAsync("sparse", sparseLength: GiB);
        var (destination, destinationPath) = await DiskFileAsync("copy");
        var (session, handler) = await ConnectAsync();
        await using var _ = session;
        try
        {
            using var c = Copy(source, destination, count: 0, synchronous: false);
            StateId copy = Assert.NotNull((await session.CompoundAsync(c).Bounded()).Get<CopyResult>().CallbackId);
            var before = await StatusAsync(session, destination, copy);
            Assert.Equal(NfsStat4.Ok, before.Status);
            Assert.Null(before.Complete); // a GiB takes far longer than one round trip on a filesystem that copies bytes

            using (var cancel = new CompoundBuilder("cancel").PutFh(destination).OffloadCancel(copy))
                Assert.Equal(NfsStat4.Ok, (await session.CompoundAsync(cancel).Bounded()).Status);

            Assert.Equal(NfsStat4.BadStateId, (await StatusAsync(session, destination, copy)).Status);
            long stoppedAt = new FileInfo(destinationPath).Length;
            Assert.True(stoppedAt < GiB, $"the copy stopped short ({stoppedAt} bytes)");
            Assert.True(stoppedAt >= (long)before.Count, "what OFFLOAD_STATUS counted stays copied");
            // The next asynchronous copy's CB_OFFLOAD is the first this client hears: the cancelled copy sent none (it had
            // stopped when OFFLOAD_CANCEL was answered). A copy that ends before its reply is answered synchronously and
            // sends no CB_OFFLOAD, so copies are asked until one is answered asynchronously.
            var (small, _) = await DiskFileAsync("small", new byte[1 << 20]);
            StateId? nextCopy = null;
            for (int attempt = 0; attempt < 10 && nextCopy is null; attempt++)
            {
                var (other, _) = await DiskFileAsync($"other-{attempt}");
                using var next = Copy(small, other, count: 0, synchronous: false);
                nextCopy = (await session.CompoundAsync(next).Bounded()).Get<CopyResult>().CallbackId;
            }
            Assert.True(nextCopy is not null, "one of ten copies of a MiB was answered asynchronously");
            var heard = await NextOffloadAsync(handler);
            Assert.Equal(nextCopy, heard.StateId);
            Assert.NotEqual(copy, heard.StateId);
            Assert.Equal(stoppedAt, new FileInfo(destinationPath).Length);
        }
        finally
        {
            File.Delete(destinationPath);
        }
    }

    [Fact]
    public async Task COPY_onto_a_file_another_client_holds_a_write_delegation_on_is_delayed_until_the_recall_is_answered()
    {
        var data = new byte[8192];
        new Random(3).NextBytes(data);
        var (source, _) = await DiskFileAsync("src", data);
        var (_, name, destination) = await Delegations.DelegationClient.NewFileAsync(fx, "held");
        await using var holder = await Delegations.DelegationClient.ConnectAsync(fx);
        var root = await fx.RootAsync();
        var held = (await holder.Session.OpenAsync(root, name, ShareAccess.Both).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.Write, held.Delegation.Type);
        var (copier, _) = await ConnectAsync();
        await using var _ = copier;

        using (var c = Copy(source, destination, 0, synchronous: true))
            Assert.Equal(NfsStat4.Delay, (await copier.CompoundAsync(c).Bounded()).Status);
        var recall = await holder.NextRecallAsync();
        Assert.Equal(held.Delegation.StateId, recall.StateId);
        Assert.Equal(NfsStat4.Ok, await holder.Session.DelegReturnAsync(destination, held.Delegation.StateId).Bounded());

        var status = await Delegations.DelegationClient.RetryWhileDelayAsync(async () =>
        {
            using var again = Copy(source, destination, 0, synchronous: true);
            return (await copier.CompoundAsync(again)).Status;
        });
        Assert.Equal(NfsStat4.Ok, status);
        Assert.Equal(data, await File.ReadAllBytesAsync(Path.Join(fx.ExportPath, name)));
    }

    [Fact]
    public async Task COPY_from_a_file_another_client_holds_a_write_delegation_on_recalls_it_first()
    {
        var (_, name, source) = await Delegations.DelegationClient.NewFileAsync(fx, "wsrc");
        var (destination, destinationPath) = await DiskFileAsync("dst");
        await using var holder = await Delegations.DelegationClient.ConnectAsync(fx);
        var root = await fx.RootAsync();
        var held = (await holder.Session.OpenAsync(root, name, ShareAccess.Both).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.Write, held.Delegation.Type);
        var (copier, _) = await ConnectAsync();
        await using var _ = copier;

        using (var c = Copy(source, destination, 0, synchronous: true))
            Assert.Equal(NfsStat4.Delay, (await copier.CompoundAsync(c).Bounded()).Status);
        Assert.Equal(held.Delegation.StateId, (await holder.NextRecallAsync()).StateId);
        // The holder flushes its newer data, then returns the delegation: the copy sees that data.
        Assert.Equal(NfsStat4.Ok, (await holder.Session.WriteAsync(source, held.Delegation.StateId, 0, ServerFixture.Bytes("HELLO")).Bounded()).Status);
        Assert.Equal(NfsStat4.Ok, await holder.Session.DelegReturnAsync(source, held.Delegation.StateId).Bounded());

        var status = await Delegations.DelegationClient.RetryWhileDelayAsync(async () =>
        {
            using var again = Copy(source, destination, 0, synchronous: true);
            return (await copier.CompoundAsync(again)).Status;
        });
        Assert.Equal(NfsStat4.Ok, status);
        Assert.Equal("HELLO", await File.ReadAllTextAsync(destinationPath));
    }

    [Fact]
    public async Task Unknown_copy_stateids_inter_server_copies_and_directories_are_refused()
    {
        var (source, _) = await DiskFileAsync("src", new byte[10]);
        var (destination, _) = await DiskFileAsync("dst");
        var root = await fx.RootAsync();
        var (session, _) = await ConnectAsync();
        await using var _ = session;
        var unknown = new StateId(1, 12345);

        Assert.Equal(NfsStat4.BadStateId, (await StatusAsync(session, destination, unknown)).Status);
        using (var cancel = new CompoundBuilder("cancel").PutFh(destination).OffloadCancel(unknown))
            Assert.Equal(NfsStat4.BadStateId, (await session.CompoundAsync(cancel).Bounded()).Status);
        using (var inter = new CompoundBuilder("copy").PutFh(source).SaveFh().PutFh(destination).Copy(default, default, 0, 0, 0, true, true, "other-server"))
            Assert.Equal(NfsStat4.NotSupp, (await session.CompoundAsync(inter).Bounded()).Status);
        using (var toDirectory = Copy(source, root, 0, synchronous: true))
            Assert.Equal(NfsStat4.IsDir, (await session.CompoundAsync(toDirectory).Bounded()).Status);
        using (var noSaved = new CompoundBuilder("copy").PutFh(destination).Copy(default, default, 0, 0, 0, true))
            Assert.Equal(NfsStat4.NoFileHandle, (await session.CompoundAsync(noSaved).Bounded()).Status);
    }

    [Fact]
    public async Task CLONE_answers_NOTSUPP_on_a_filesystem_that_cannot_clone()
    {
        string type = new DriveInfo(fx.ExportPath).DriveFormat;
        if (type is "xfs" or "btrfs" or "ocfs2")
            return; // the export can clone here; the export tests clone on an XFS image (FileCopyTests)
        var (source, _) = await DiskFileAsync("src", new byte[8192]);
        var (destination, destinationPath) = await DiskFileAsync("dst");
        var (session, _) = await ConnectAsync();
        await using var _ = session;

        using var c = new CompoundBuilder("clone").PutFh(source).SaveFh().PutFh(destination).Clone(default, default, 0, 0, 4096);
        var reply = await session.CompoundAsync(c).Bounded();

        Assert.Equal(NfsStat4.NotSupp, reply.Status);
        Assert.Equal(NfsOpcode.Clone, reply.Failed!.Op);
        Assert.Equal(0, new FileInfo(destinationPath).Length);
    }
}
