using Leasehold.Nfs4.Client;

namespace Leasehold.IntegrationTests;

/// <summary>
/// Every operation that takes a file handle or an open's stateid keeps working on a file whose last name another client
/// removed while it was open (issue 6, item 7, beyond READ/WRITE/GETATTR/SETATTR): OPEN by handle from another client,
/// OPEN_DOWNGRADE, LOCK/LOCKU, VERIFY/NVERIFY, ACCESS, COMMIT and CLOSE. As on knfsd, the file lives while any open
/// holds it, whichever client's open that is.
/// </summary>
public sealed class UnlinkedOpenFileOpsTests(ServerFixture fixture) : TwoClientTests(fixture), IClassFixture<ServerFixture>
{
    /// <summary>A creates a file open for read and write, writes "hello", and B removes it.</summary>
    private async Task<(FileHandle Root, string Name, OpenedFile Open)> RemovedWhileOpenAsync()
    {
        var root = await Fx.RootAsync();
        string name = ServerFixture.NewName("victim");
        var open = (await A.CreateAsync(root, name).Bounded()).ValueOrThrow();
        Assert.True((await A.WriteAsync(open.FileHandle, open.StateId, 0, ServerFixture.Bytes("hello")).Bounded()).IsOk);
        Assert.True((await B.RemoveAsync(root, name).Bounded()).IsOk);
        return (root, name, open);
    }

    private static async Task<string> ReadAsync(Nfs4Session session, FileHandle fh, StateId stateId) =>
        System.Text.Encoding.UTF8.GetString((await session.ReadAsync(fh, stateId, 0, 1000).Bounded()).ValueOrThrow().Data.Span);

    [Fact]
    public async Task Another_client_opens_the_unlinked_file_by_handle_and_keeps_it_after_the_first_open_closes()
    {
        var (_, name, open) = await RemovedWhileOpenAsync();
        var fh = open.FileHandle;

        var second = (await B.OpenAsync(fh, ShareAccess.Read).Bounded()).ValueOrThrow();
        Assert.True((await A.CloseAsync(fh, open.StateId).Bounded()).IsOk);

        Assert.Equal("hello", await ReadAsync(B, fh, second.StateId));
        Assert.True((await B.CloseAsync(fh, second.StateId).Bounded()).IsOk);
        Assert.Equal(0, UnlinkedOpenFileTests.DescriptorsOn(Path.Join(Fx.ExportPath, name)));
        Assert.Equal(NfsStat4.Stale, (await B.GetAttrAsync(fh, AttrBitmap.Of(FileAttr.NumLinks)).Bounded()).Status);
    }

    [Fact]
    public async Task Open_downgrade_lock_verify_access_and_commit_work_on_the_unlinked_file_until_close()
    {
        var (_, name, open) = await RemovedWhileOpenAsync();
        var fh = open.FileHandle;

        var locked = await A.LockAsync(fh, LockType.Read, 0, 5, Locker.FromOpen(open.StateId, A.NewOwner("lock"))).Bounded();
        Assert.Equal(NfsStat4.Ok, locked.Status);
        Assert.Equal(NfsStat4.Ok, (await A.UnlockAsync(fh, LockType.Read, locked.StateId, 0, 5).Bounded()).Status);

        // An OPEN for READ on the removed file puts READ among the OPENs in effect, so the open may go down to it (§18.18.3).
        var reopened = (await A.OpenAsync(fh, ShareAccess.Read).Bounded()).ValueOrThrow();
        var downgraded = await A.OpenDowngradeAsync(fh, reopened.StateId, ShareAccess.Read).Bounded();
        Assert.Equal(NfsStat4.Ok, downgraded.Status);
        Assert.Equal("hello", await ReadAsync(A, fh, downgraded.Value));

        using (var verify = new CompoundBuilder("verify").PutFh(fh).Verify(new SetAttributes { Size = 5 }).NVerify(new SetAttributes { Size = 6 }))
            Assert.Equal(NfsStat4.Ok, (await A.CompoundAsync(verify).Bounded()).Status);
        using (var verify = new CompoundBuilder("verify").PutFh(fh).Verify(new SetAttributes { Size = 6 }))
            Assert.Equal(NfsStat4.NotSame, (await A.CompoundAsync(verify).Bounded()).Status);

        Assert.Equal(NfsStat4.Ok, (await A.AccessAsync(fh, AccessBits.Read).Bounded()).Status);
        Assert.Equal(NfsStat4.Ok, (await A.CommitAsync(fh).Bounded()).Status);

        Assert.True((await A.CloseAsync(fh, downgraded.Value).Bounded()).IsOk);
        Assert.Equal(0, UnlinkedOpenFileTests.DescriptorsOn(Path.Join(Fx.ExportPath, name)));
        Assert.Equal(NfsStat4.Stale, (await A.CommitAsync(fh).Bounded()).Status);
    }

    [Fact]
    public async Task The_unlinked_file_cannot_be_given_a_name_again()
    {
        // Linux refuses linkat() of a file with no links left (ENOENT), and so does knfsd's LINK: the file is on its way out.
        var (root, name, open) = await RemovedWhileOpenAsync();
        var linked = await A.LinkAsync(open.FileHandle, root, name + "-revived").Bounded();
        Assert.Equal(NfsStat4.NoEnt, linked.Status);
        Assert.Equal(NfsStat4.NoEnt, (await A.LookupAsync(root, name + "-revived").Bounded()).Status);
        Assert.True((await A.CloseAsync(open.FileHandle, open.StateId).Bounded()).IsOk);
    }
}
