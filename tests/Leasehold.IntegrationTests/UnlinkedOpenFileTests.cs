using Leasehold.Nfs4.Client;

namespace Leasehold.IntegrationTests;

/// <summary>
/// A file removed while open — by another client's REMOVE, by a RENAME over it, or by a local process — stays usable
/// through its open until the last CLOSE, as on knfsd and POSIX, and OPEN says so (OPEN4_RESULT_PRESERVE_UNLINKED,
/// RFC 8881 §18.16.3). Then its handle is STALE and the server holds no descriptor on it.
/// </summary>
public sealed class UnlinkedOpenFileTests(ServerFixture fixture) : TwoClientTests(fixture), IClassFixture<ServerFixture>
{
    private static readonly AttrBitmap LinksAndSize = AttrBitmap.Of(FileAttr.NumLinks, FileAttr.Size);

    /// <summary>A creates "victim-…" open for read and write and writes "hello" through its open.</summary>
    private async Task<(FileHandle Root, string Name, OpenedFile Open)> VictimAsync()
    {
        var root = await Fx.RootAsync();
        string name = ServerFixture.NewName("victim");
        var open = (await A.CreateAsync(root, name).Bounded()).ValueOrThrow();
        Assert.True((await A.WriteAsync(open.FileHandle, open.StateId, 0, ServerFixture.Bytes("hello")).Bounded()).IsOk);
        return (root, name, open);
    }

    [Fact]
    public async Task Open_promises_to_preserve_an_unlinked_file()
    {
        var (_, _, open) = await VictimAsync();
        Assert.Equal(OpenResultFlags.PreserveUnlinked, (OpenResultFlags)open.ResultFlags & OpenResultFlags.PreserveUnlinked);
        Assert.True((await A.CloseAsync(open.FileHandle, open.StateId).Bounded()).IsOk);
    }

    [Fact]
    public async Task A_file_another_client_removes_stays_usable_through_the_open_until_close()
    {
        var (root, name, open) = await VictimAsync();
        var fh = open.FileHandle;

        Assert.True((await B.RemoveAsync(root, name).Bounded()).IsOk);
        Assert.Equal(NfsStat4.NoEnt, (await B.LookupAsync(root, name).Bounded()).Status);

        Assert.Equal("hello", await ReadAsync(A, fh, open.StateId));
        Assert.True((await A.WriteAsync(fh, open.StateId, 5, ServerFixture.Bytes(" world")).Bounded()).IsOk);
        var attrs = (await A.GetAttrAsync(fh, LinksAndSize).Bounded()).ValueOrThrow();
        Assert.Equal((0u, 11ul), (attrs.NumLinks, attrs.Size));
        Assert.True((await A.SetAttrAsync(fh, new SetAttributes { Size = 5 }, open.StateId).Bounded()).IsOk);
        Assert.Equal("hello", await ReadAsync(A, fh, open.StateId));
        Assert.True((await A.CommitAsync(fh).Bounded()).IsOk);

        // Locks on it keep working, and another client holding the handle sees them.
        var locked = await A.LockAsync(fh, LockType.Write, 0, 5, Locker.FromOpen(open.StateId, A.NewOwner("lock"))).Bounded();
        Assert.Equal(NfsStat4.Ok, locked.Status);
        Assert.Equal(NfsStat4.Denied, (await B.LockTestAsync(fh, LockType.Read, 0, 1, B.NewOwner("probe")).Bounded()).Status);
        Assert.True((await A.UnlockAsync(fh, LockType.Write, locked.StateId, 0, 5).Bounded()).IsOk);

        Assert.True(DescriptorsOn(Path.Join(Fx.ExportPath, name)) > 0, "the open holds the unlinked file");
        Assert.True((await A.CloseAsync(fh, open.StateId).Bounded()).IsOk);

        // The last CLOSE let go of the file: no descriptor of the server keeps it, and its handle is stale.
        Assert.Equal(0, DescriptorsOn(Path.Join(Fx.ExportPath, name)));
        Assert.Equal(NfsStat4.Stale, (await A.GetAttrAsync(fh, LinksAndSize).Bounded()).Status);
        Assert.Equal(NfsStat4.Stale, (await B.ReadAsync(fh, StateId.Anonymous, 0, 10).Bounded()).Status);
    }

    [Fact]
    public async Task A_file_renamed_over_keeps_its_old_content_for_the_open()
    {
        var (root, name, open) = await VictimAsync();
        string replacement = ServerFixture.NewName("replacement");
        var made = (await B.CreateAsync(root, replacement).Bounded()).ValueOrThrow();
        Assert.True((await B.WriteAsync(made.FileHandle, made.StateId, 0, ServerFixture.Bytes("new")).Bounded()).IsOk);
        Assert.True((await B.CloseAsync(made.FileHandle, made.StateId).Bounded()).IsOk);

        Assert.True((await B.RenameAsync(root, replacement, root, name).Bounded()).IsOk);

        Assert.Equal("hello", await ReadAsync(A, open.FileHandle, open.StateId));
        Assert.Equal(0u, (await A.GetAttrAsync(open.FileHandle, LinksAndSize).Bounded()).ValueOrThrow().NumLinks);
        var now = (await A.LookupAsync(root, name).Bounded()).ValueOrThrow();
        Assert.Equal(made.FileHandle, now);
        Assert.NotEqual(open.FileHandle, now);
        Assert.Equal("new", await ReadAsync(A, now, StateId.Anonymous));

        Assert.True((await A.CloseAsync(open.FileHandle, open.StateId).Bounded()).IsOk);
        Assert.Equal(NfsStat4.Stale, (await A.GetAttrAsync(open.FileHandle, LinksAndSize).Bounded()).Status);
    }

    [Fact]
    public async Task A_file_a_local_process_removes_stays_usable_until_the_last_of_two_opens_closes()
    {
        var (root, name, open) = await VictimAsync();
        var second = (await B.OpenAsync(root, name, ShareAccess.Read).Bounded()).ValueOrThrow();
        string path = Path.Join(Fx.ExportPath, name);

        File.Delete(path);

        Assert.Equal("hello", await ReadAsync(B, second.FileHandle, second.StateId));
        Assert.True((await A.WriteAsync(open.FileHandle, open.StateId, 0, ServerFixture.Bytes("J")).Bounded()).IsOk);
        Assert.True((await A.CloseAsync(open.FileHandle, open.StateId).Bounded()).IsOk);

        // One open is left: the file is still there for it (and for the handle).
        Assert.Equal("Jello", await ReadAsync(B, second.FileHandle, second.StateId));
        Assert.Equal(0u, (await A.GetAttrAsync(open.FileHandle, LinksAndSize).Bounded()).ValueOrThrow().NumLinks);

        Assert.True((await B.CloseAsync(second.FileHandle, second.StateId).Bounded()).IsOk);
        Assert.Equal(0, DescriptorsOn(path));
        Assert.Equal(NfsStat4.Stale, (await B.GetAttrAsync(second.FileHandle, LinksAndSize).Bounded()).Status);
    }

    [Fact]
    public async Task A_client_that_reboots_gives_up_the_unlinked_files_it_held()
    {
        // The same client owner with a new verifier is a rebooted client (§18.35.5 case 4): its old record and opens go.
        string owner = ServerFixture.NewName("rebooting");
        var first = await Fx.ConnectAsync(options: new Nfs4SessionOptions { OwnerId = owner });
        var root = await Fx.RootAsync();
        string name = ServerFixture.NewName("victim");
        var open = (await first.CreateAsync(root, name).Bounded()).ValueOrThrow();
        string path = Path.Join(Fx.ExportPath, name);
        File.Delete(path);
        Assert.Equal(0u, (await first.GetAttrAsync(open.FileHandle, LinksAndSize).Bounded()).ValueOrThrow().NumLinks);

        await using var rebooted = await Fx.ConnectAsync(options: new Nfs4SessionOptions { OwnerId = owner });

        Assert.Equal(0, DescriptorsOn(path));
        Assert.Equal(NfsStat4.Stale, (await rebooted.GetAttrAsync(open.FileHandle, LinksAndSize).Bounded()).Status);
        await first.DisposeAsync();
    }

    private static async Task<string> ReadAsync(Nfs4Session session, FileHandle fh, StateId stateId) =>
        System.Text.Encoding.UTF8.GetString((await session.ReadAsync(fh, stateId, 0, 1000).Bounded()).ValueOrThrow().Data.Span);

    /// <summary>How many descriptors of this process (the server runs in it) name the file at <paramref name="path"/>, deleted or not.</summary>
    internal static int DescriptorsOn(string path)
    {
        int count = 0;
        foreach (var fd in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            try
            {
                string? target = new FileInfo(fd).LinkTarget;
                if (target is not null && (target == path || target == path + " (deleted)"))
                    count++;
            }
            catch (IOException)
            {
                // Closed while we looked.
            }
        }
        return count;
    }
}

/// <summary>A client whose lease runs out (courtesy clients off) gives up the unlinked files it held open (no descriptor leaks).</summary>
public sealed class UnlinkedOpenFileExpiryTests(NoCourtesyServerFixture Fx) : IClassFixture<NoCourtesyServerFixture>
{
    [Fact]
    public async Task An_expired_client_releases_the_unlinked_file_it_held()
    {
        // No back channel: the silent client gets no write delegation, which the REMOVE would recall.
        await using var silent = await Fx.ConnectAsync(options: new Nfs4SessionOptions { BackChannel = false });
        await using var active = await Fx.ConnectAsync();
        var root = (await active.LookupPathAsync("").Bounded()).ValueOrThrow();
        string name = ServerFixture.NewName("victim");
        var open = (await silent.CreateAsync(root, name).Bounded()).ValueOrThrow();
        string path = Path.Join(Fx.ExportPath, name);
        Assert.True((await active.RemoveAsync(root, name).Bounded()).IsOk);
        Assert.Equal(0u, (await active.GetAttrAsync(open.FileHandle, AttrBitmap.Of(FileAttr.NumLinks)).Bounded()).ValueOrThrow().NumLinks);

        for (int i = 0; i < 3; i++)
        {
            Fx.Clock.Advance(Fx.LeaseTime * 0.5);
            Assert.Equal(NfsStat4.Ok, await active.RenewAsync().Bounded());
        }
        Assert.Equal(NfsStat4.BadSession, await silent.RenewAsync().Bounded());

        Assert.Equal(0, UnlinkedOpenFileTests.DescriptorsOn(path));
        Assert.Equal(NfsStat4.Stale, (await active.GetAttrAsync(open.FileHandle, AttrBitmap.Of(FileAttr.NumLinks)).Bounded()).Status);
    }
}
