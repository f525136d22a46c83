using Leasehold.Nfs4.Client;

namespace Leasehold.IntegrationTests.Delegations;

/// <summary>
/// Write delegations over the wire (RFC 8881 §10.4, §18.16.3; knfsd grants them since 6.6): granted on an OPEN with
/// write access while no other client has the file open, encoded with a space limit and an empty ACE, recalled by any
/// OPEN of another client and by I/O with a special stateid, never by the holder's own operations; the want reasons.
/// </summary>
public sealed class WriteDelegationTests(ServerFixture fx) : IClassFixture<ServerFixture>
{
    private const uint Contention = 1, NotSuppUpgrade = 5, NotSuppDowngrade = 6;

    private Task<DelegationClient> ConnectAsync() => DelegationClient.ConnectAsync(fx);

    private Task<(FileHandle Root, string Name, FileHandle File)> NewFileAsync() => DelegationClient.NewFileAsync(fx, "wdeleg");

    private static string Text(ReadResult r) => System.Text.Encoding.UTF8.GetString(r.Data.Span);

    [Fact]
    public async Task An_open_for_read_and_write_gets_a_write_delegation()
    {
        var (root, name, file) = await NewFileAsync();
        await using var a = await ConnectAsync();

        var opened = (await a.Session.OpenAsync(root, name, ShareAccess.Both).Bounded()).ValueOrThrow();

        Assert.Equal(DelegationType.Write, opened.Delegation.Type);
        Assert.False(opened.Delegation.Recall);
        Assert.Equal(1u, opened.Delegation.StateId.SeqId);
        Assert.NotEqual(opened.StateId.Other, opened.Delegation.StateId.Other);
        Assert.Equal(ulong.MaxValue, opened.Delegation.SpaceLimit); // NFS_LIMIT_SIZE, no limit, as knfsd sends
        Assert.Equal(new NfsAce(0, 0, 0, ""), opened.Delegation.Permissions); // allows nothing: the client asks ACCESS
        Assert.Equal(file, opened.FileHandle);
    }

    [Fact]
    public async Task An_exclusive_create_wanting_a_write_delegation_gets_one()
    {
        // pynfs DELEG2's first step: the OPEN that creates the file.
        var root = await fx.RootAsync();
        await using var a = await ConnectAsync();

        var made = (await a.Session.OpenAsync(root, ServerFixture.NewName("made"), ShareAccess.Both | ShareAccess.WantWriteDelegation,
            OpenHow.Guarded()).Bounded()).ValueOrThrow();

        Assert.Equal(DelegationType.Write, made.Delegation.Type);
    }

    [Fact]
    public async Task A_write_only_open_gets_a_write_delegation()
    {
        var (root, name, _) = await NewFileAsync();
        await using var a = await ConnectAsync();

        var opened = (await a.Session.OpenAsync(root, name, ShareAccess.Write).Bounded()).ValueOrThrow();

        Assert.Equal(DelegationType.Write, opened.Delegation.Type);
    }

    [Theory]
    [InlineData(ShareAccess.Read)]
    [InlineData(ShareAccess.Write)]
    [InlineData(ShareAccess.Both)]
    public async Task Any_open_by_another_client_recalls_and_is_delayed_until_DELEGRETURN(ShareAccess access)
    {
        var (root, name, file) = await NewFileAsync();
        await using var a = await ConnectAsync();
        await using var b = await ConnectAsync();
        var held = (await a.Session.OpenAsync(root, name, ShareAccess.Both).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.Write, held.Delegation.Type);

        Assert.Equal(NfsStat4.Delay, (await b.Session.OpenAsync(root, name, access).Bounded()).Status);
        var recall = await a.NextRecallAsync();
        Assert.Equal(held.Delegation.StateId, recall.StateId);
        Assert.Equal(file, recall.FileHandle);
        Assert.Equal(NfsStat4.Delay, (await b.Session.OpenAsync(root, name, access).Bounded()).Status); // still pending

        // The holder flushes what it wrote under the delegation, then returns it.
        Assert.Equal(NfsStat4.Ok, (await a.Session.WriteAsync(file, held.Delegation.StateId, 0, ServerFixture.Bytes("HELLO")).Bounded()).Status);
        Assert.Equal(NfsStat4.Ok, await a.Session.DelegReturnAsync(file, held.Delegation.StateId).Bounded());

        var opened = (await b.Session.OpenAsync(root, name, access).Bounded()).ValueOrThrow();
        var read = (await b.Session.ReadAsync(file, opened.StateId, 0, 100).Bounded()).ValueOrThrow(); // knfsd lets write-only opens read
        Assert.Equal("HELLO", Text(read));
    }

    [Fact]
    public async Task While_another_client_has_the_file_open_a_write_open_gets_none_and_a_read_open_a_read_delegation()
    {
        var (root, name, _) = await NewFileAsync();
        await using var a = await ConnectAsync();
        await using var b = await ConnectAsync();
        var reader = (await b.Session.OpenAsync(root, name, ShareAccess.Read | ShareAccess.WantNoDelegation).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.NoneExt, reader.Delegation.Type);

        var writer = (await a.Session.OpenAsync(root, name, ShareAccess.Both | ShareAccess.WantWriteDelegation).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.NoneExt, writer.Delegation.Type);
        Assert.Equal(Contention, writer.Delegation.WhyNone);
        var plain = (await a.Session.OpenAsync(root, name, ShareAccess.Both, owner: a.Session.NewOwner("plain")).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.None, plain.Delegation.Type); // no want stated: no reason given

        // A read open of A: B only reads, and A's own write opens never stand in its way.
        var read = (await a.Session.OpenAsync(root, name, ShareAccess.Read, owner: a.Session.NewOwner("reader")).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.Read, read.Delegation.Type);
        Assert.False(b.Handler.Recalls.TryRead(out _));
    }

    public enum SpecialIo
    {
        ReadAnonymous,
        ReadBypass,
        WriteAnonymous,
        SetAttrSize,
    }

    [Theory]
    [InlineData(SpecialIo.ReadAnonymous)]
    [InlineData(SpecialIo.ReadBypass)]
    [InlineData(SpecialIo.WriteAnonymous)]
    [InlineData(SpecialIo.SetAttrSize)]
    public async Task IO_with_a_special_stateid_by_another_client_recalls(SpecialIo io)
    {
        var (root, name, file) = await NewFileAsync();
        await using var a = await ConnectAsync();
        await using var b = await ConnectAsync();
        var held = (await a.Session.OpenAsync(root, name, ShareAccess.Both).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.Write, held.Delegation.Type);

        Task<NfsStat4> Act() => io switch
        {
            SpecialIo.ReadAnonymous => b.Session.ReadAsync(file, StateId.Anonymous, 0, 100).ContinueWith(t => t.Result.Status),
            SpecialIo.ReadBypass => b.Session.ReadAsync(file, StateId.ReadBypass, 0, 100).ContinueWith(t => t.Result.Status),
            SpecialIo.WriteAnonymous => b.Session.WriteAsync(file, StateId.Anonymous, 0, ServerFixture.Bytes("J")).ContinueWith(t => t.Result.Status),
            SpecialIo.SetAttrSize => b.Session.SetAttrAsync(file, new SetAttributes { Size = 1 }).ContinueWith(t => t.Result.Status),
            _ => throw new ArgumentOutOfRangeException(nameof(io)),
        };

        Assert.Equal(NfsStat4.Delay, await Act().Bounded());
        Assert.Equal(held.Delegation.StateId, (await a.NextRecallAsync()).StateId);
        Assert.Equal(NfsStat4.Ok, await a.Session.DelegReturnAsync(file, held.Delegation.StateId).Bounded());
        Assert.Equal(NfsStat4.Ok, await DelegationClient.RetryWhileDelayAsync(Act));
    }

    [Fact]
    public async Task The_holder_reads_and_writes_with_its_write_delegation_stateid()
    {
        var (root, name, file) = await NewFileAsync();
        await using var a = await ConnectAsync();
        var held = (await a.Session.OpenAsync(root, name, ShareAccess.Write).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.Write, held.Delegation.Type);

        Assert.Equal(NfsStat4.Ok, (await a.Session.WriteAsync(file, held.Delegation.StateId, 5, ServerFixture.Bytes(", world")).Bounded()).Status);
        Assert.Equal("hello, world", Text((await a.Session.ReadAsync(file, held.Delegation.StateId, 0, 100).Bounded()).ValueOrThrow()));

        // Another client cannot use it.
        await using var b = await ConnectAsync();
        Assert.Equal(NfsStat4.BadStateId, (await b.Session.WriteAsync(file, held.Delegation.StateId, 0, ServerFixture.Bytes("x")).Bounded()).Status);

        // The write reached the file. Read on disk only once the delegation is back: a local open for read of a
        // write-delegated file is local access, which waits in the kernel for the recall (issue 9).
        Assert.Equal(NfsStat4.Ok, await a.Session.DelegReturnAsync(file, held.Delegation.StateId).Bounded());
        Assert.Equal("hello, world", await File.ReadAllTextAsync(Path.Join(fx.ExportPath, name)));
    }

    [Fact]
    public async Task Writing_with_a_read_delegation_stateid_is_OPENMODE()
    {
        var (root, name, file) = await NewFileAsync();
        await using var a = await ConnectAsync();
        var held = (await a.Session.OpenAsync(root, name, ShareAccess.Read).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.Read, held.Delegation.Type);

        Assert.Equal(NfsStat4.OpenMode, (await a.Session.WriteAsync(file, held.Delegation.StateId, 0, ServerFixture.Bytes("x")).Bounded()).Status);
    }

    [Fact]
    public async Task The_holders_own_opens_and_IO_never_recall_its_write_delegation()
    {
        var (root, name, file) = await NewFileAsync();
        await using var a = await ConnectAsync();
        var held = (await a.Session.OpenAsync(root, name, ShareAccess.Both).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.Write, held.Delegation.Type);

        var reader = (await a.Session.OpenAsync(root, name, ShareAccess.Read, owner: a.Session.NewOwner("reader")).Bounded()).ValueOrThrow();
        var writer = (await a.Session.OpenAsync(root, name, ShareAccess.Write, owner: a.Session.NewOwner("writer")).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.None, reader.Delegation.Type); // one delegation per client and file
        Assert.Equal(NfsStat4.Ok, (await a.Session.WriteAsync(file, writer.StateId, 0, ServerFixture.Bytes("J")).Bounded()).Status);
        Assert.Equal(NfsStat4.Ok, (await a.Session.ReadAsync(file, StateId.Anonymous, 0, 100).Bounded()).Status);
        Assert.Equal(NfsStat4.Ok, (await a.Session.WriteAsync(file, StateId.Anonymous, 1, ServerFixture.Bytes("E")).Bounded()).Status);
        Assert.Equal(NfsStat4.Ok, (await a.Session.SetAttrAsync(file, new SetAttributes { Mode = 0x180 }).Bounded()).Status);
        Assert.Equal(NfsStat4.Ok, (await a.Session.GetAttrAsync(file).Bounded()).Status);

        Assert.False(a.Handler.Recalls.TryRead(out _));
        Assert.False(a.Handler.GetAttrs.TryRead(out _));
        Assert.Equal(NfsStat4.Ok, await a.Session.DelegReturnAsync(file, held.Delegation.StateId).Bounded()); // still held
    }

    [Fact]
    public async Task Wants_the_server_cannot_meet_get_NOT_SUPP_UPGRADE_or_DOWNGRADE()
    {
        var (root, name, _) = await NewFileAsync();
        await using var a = await ConnectAsync();
        await using var b = await ConnectAsync();

        // A read delegation is never upgraded: the holder's open for write gets none.
        var read = (await a.Session.OpenAsync(root, name, ShareAccess.Read).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.Read, read.Delegation.Type);
        var upgrade = (await a.Session.OpenAsync(root, name, ShareAccess.Both | ShareAccess.WantWriteDelegation, owner: a.Session.NewOwner("w")).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.NoneExt, upgrade.Delegation.Type);
        Assert.Equal(NotSuppUpgrade, upgrade.Delegation.WhyNone);
        var anyUpgrade = (await a.Session.OpenAsync(root, name, ShareAccess.Write | ShareAccess.WantAnyDelegation, owner: a.Session.NewOwner("w2")).Bounded()).ValueOrThrow();
        Assert.Equal(NotSuppUpgrade, anyUpgrade.Delegation.WhyNone);

        // A read-only open never gets a write delegation.
        var (_, other, _) = await NewFileAsync();
        var readWantsWrite = (await b.Session.OpenAsync(root, other, ShareAccess.Read | ShareAccess.WantWriteDelegation).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.NoneExt, readWantsWrite.Delegation.Type);
        Assert.Equal(NotSuppUpgrade, readWantsWrite.Delegation.WhyNone);

        // A write open that wants a read delegation gets a write one (it allows all a read one does), as knfsd; the
        // holder of a write delegation then wanting a read one hears it is not downgraded.
        var writeWantsRead = (await b.Session.OpenAsync(root, other, ShareAccess.Both | ShareAccess.WantReadDelegation, owner: b.Session.NewOwner("w")).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.Write, writeWantsRead.Delegation.Type);
        var downgrade = (await b.Session.OpenAsync(root, other, ShareAccess.Read | ShareAccess.WantReadDelegation, owner: b.Session.NewOwner("r")).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.NoneExt, downgrade.Delegation.Type);
        Assert.Equal(NotSuppDowngrade, downgrade.Delegation.WhyNone);
    }
}

/// <summary>A read-only export grants read delegations only: every open for write is NFS4ERR_ROFS before any grant.</summary>
public sealed class ReadOnlyExportDelegationTests(ReadOnlyServerFixture fx) : IClassFixture<ReadOnlyServerFixture>
{
    private const uint NotSuppUpgrade = 5;

    [Fact]
    public async Task A_read_only_export_gives_no_write_delegation()
    {
        var root = await fx.RootAsync();
        await using var a = await DelegationClient.ConnectAsync(fx);

        Assert.Equal(NfsStat4.Rofs, (await a.Session.OpenAsync(root, ReadOnlyServerFixture.ExistingFile, ShareAccess.Both).Bounded()).Status);
        var wantsWrite = (await a.Session.OpenAsync(root, ReadOnlyServerFixture.ExistingFile, ShareAccess.Read | ShareAccess.WantWriteDelegation).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.NoneExt, wantsWrite.Delegation.Type);
        Assert.Equal(NotSuppUpgrade, wantsWrite.Delegation.WhyNone);
        var read = (await a.Session.OpenAsync(root, ReadOnlyServerFixture.ExistingFile, ShareAccess.Read, owner: a.Session.NewOwner("r")).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.Read, read.Delegation.Type);
    }
}
