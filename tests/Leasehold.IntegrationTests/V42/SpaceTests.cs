using Leasehold.Nfs4.Client;
using Leasehold.Nfs4.Client.Callbacks;

namespace Leasehold.IntegrationTests.V42;

/// <summary>
/// The NFSv4.2 space operations over real RPC (RFC 7862 §15.1, §15.4, §15.5, §15.10, §15.11): ALLOCATE, DEALLOCATE,
/// SEEK, READ_PLUS and IO_ADVISE, their stateid rules (READ's and WRITE's), and DEALLOCATE as a change that recalls
/// another client's delegation first but never the caller's own. Holes are whole 4 KiB blocks (ext4 on /tmp here).
/// </summary>
public sealed class SpaceTests(ServerFixture fx) : IClassFixture<ServerFixture>
{
    private const int Block = 4096;

    private Task<Nfs4Session> ConnectAsync() =>
        fx.ConnectAsync(options: new Nfs4SessionOptions { MinorVersion = 2, BackChannel = false });

    private async Task<(Nfs4Session Session, RecordingCallbackHandler Handler)> ConnectWithBackChannelAsync()
    {
        var handler = new RecordingCallbackHandler();
        var session = await fx.ConnectAsync(options: new Nfs4SessionOptions { MinorVersion = 2, CallbackHandler = handler });
        return (session, handler);
    }

    /// <summary>A new file opened for read and write by <paramref name="s"/> (which holds no delegation: no back channel).</summary>
    private async Task<(FileHandle Root, string Name, OpenedFile File)> NewFileAsync(Nfs4Session s, string prefix)
    {
        var root = await fx.RootAsync();
        string name = ServerFixture.NewName(prefix);
        var made = (await s.CreateAsync(root, name).Bounded()).ValueOrThrow();
        return (root, name, made);
    }

    /// <summary>16 blocks: data 'a', 'b', 'c' in blocks 0, 4 and 10, holes in 1-3, 5-9 and 11-15 (made by growing the size first).</summary>
    private async Task<OpenedFile> SparseFileAsync(Nfs4Session s)
    {
        var (_, _, f) = await NewFileAsync(s, "sparse");
        Assert.Equal(NfsStat4.Ok, (await s.SetAttrAsync(f.FileHandle, new SetAttributes { Size = 16 * Block }, f.StateId).Bounded()).Status);
        foreach (var (block, fill) in new[] { (0, (byte)'a'), (4, (byte)'b'), (10, (byte)'c') })
            Assert.Equal(NfsStat4.Ok, (await s.WriteAsync(f.FileHandle, f.StateId, (ulong)(block * Block), Enumerable.Repeat(fill, Block).ToArray()).Bounded()).Status);
        return f;
    }

    [Fact]
    public async Task SEEK_finds_each_data_run_and_hole_of_a_file_with_several_holes()
    {
        await using var s = await ConnectAsync();
        var f = await SparseFileAsync(s);

        (ulong From, DataContent What, ulong Offset, bool Eof)[] expected =
        [
            (0, DataContent.Data, 0, false),
            (0, DataContent.Hole, 1 * Block, false),
            (1 * Block, DataContent.Data, 4 * Block, false),
            (4 * Block + 10, DataContent.Hole, 5 * Block, false),
            (5 * Block, DataContent.Data, 10 * Block, false),
            (7 * Block, DataContent.Hole, 7 * Block, false),
            (10 * Block, DataContent.Hole, 11 * Block, false),
        ];
        foreach (var (from, what, offset, eof) in expected)
        {
            var seek = (await s.SeekAsync(f.FileHandle, f.StateId, from, what).Bounded()).ValueOrThrow();
            Assert.Equal((from, what, offset, eof), (from, what, seek.Offset, seek.Eof));
        }

        // Only a hole follows: OK with sr_eof (§15.11.3), the offset the end of the file.
        var noData = (await s.SeekAsync(f.FileHandle, f.StateId, 11 * Block, DataContent.Data).Bounded()).ValueOrThrow();
        Assert.Equal((true, (ulong)(16 * Block)), (noData.Eof, noData.Offset));
        // At or past the end of the file: NXIO, for either.
        Assert.Equal(NfsStat4.Nxio, (await s.SeekAsync(f.FileHandle, f.StateId, 16 * Block, DataContent.Hole).Bounded()).Status);
        Assert.Equal(NfsStat4.Nxio, (await s.SeekAsync(f.FileHandle, f.StateId, ulong.MaxValue, DataContent.Data).Bounded()).Status);
        // Neither data nor hole.
        Assert.Equal(NfsStat4.UnionNotSupp, (await s.SeekAsync(f.FileHandle, f.StateId, 0, (DataContent)7).Bounded()).Status);
    }

    [Fact]
    public async Task READ_PLUS_sends_holes_as_holes_across_the_boundaries_and_reads_like_READ()
    {
        await using var s = await ConnectAsync();
        var f = await SparseFileAsync(s);

        var plus = (await s.ReadPlusAsync(f.FileHandle, f.StateId, 2048, 20_000).Bounded()).ValueOrThrow();

        Assert.False(plus.Eof);
        var shape = plus.Segments.Select(x => (x.Content, x.Offset, x.Length)).ToArray();
        (DataContent, ulong, ulong)[] expected =
        [
            (DataContent.Data, 2048, 2048),
            (DataContent.Hole, 1 * Block, 3 * Block),
            (DataContent.Data, 4 * Block, Block),
            (DataContent.Hole, 5 * Block, 2048 + 20_000 - 5 * Block),
        ];
        Assert.Equal(expected, shape);
        var read = (await s.ReadAsync(f.FileHandle, f.StateId, 2048, 20_000).Bounded()).ValueOrThrow();
        Assert.Equal(read.Data.ToArray(), plus.Flatten());

        // To the end: the trailing hole, and rpr_eof.
        var tail = (await s.ReadPlusAsync(f.FileHandle, f.StateId, 10 * Block, 1 << 20).Bounded()).ValueOrThrow();
        Assert.True(tail.Eof);
        Assert.Equal([(DataContent.Data, (ulong)(10 * Block), (ulong)Block), (DataContent.Hole, (ulong)(11 * Block), (ulong)(5 * Block))],
            tail.Segments.Select(x => (x.Content, x.Offset, x.Length)).ToArray());
        Assert.All(tail.Segments[0].Data.ToArray(), b => Assert.Equal((byte)'c', b));

        // At or past the end: nothing, and eof, as READ.
        var past = (await s.ReadPlusAsync(f.FileHandle, f.StateId, 100 * Block, 100).Bounded()).ValueOrThrow();
        Assert.Equal((true, 0), (past.Eof, past.Segments.Count));
    }

    [Fact]
    public async Task DEALLOCATE_punches_a_hole_that_SEEK_and_READ_PLUS_see_and_keeps_the_size()
    {
        await using var s = await ConnectAsync();
        var (_, _, f) = await NewFileAsync(s, "punch");
        Assert.Equal(NfsStat4.Ok, (await s.WriteAsync(f.FileHandle, f.StateId, 0, Enumerable.Repeat((byte)'x', 3 * Block).ToArray()).Bounded()).Status);

        Assert.Equal(NfsStat4.Ok, await s.DeallocateAsync(f.FileHandle, f.StateId, Block, Block).Bounded());

        var attrs = (await s.GetAttrAsync(f.FileHandle, AttrBitmap.Of(FileAttr.Size, FileAttr.SpaceUsed)).Bounded()).ValueOrThrow();
        Assert.Equal((ulong)(3 * Block), attrs.Size);
        Assert.Equal((ulong)(2 * Block), attrs.SpaceUsed);
        Assert.Equal((ulong)Block, (await s.SeekAsync(f.FileHandle, f.StateId, 0, DataContent.Hole).Bounded()).ValueOrThrow().Offset);
        var plus = (await s.ReadPlusAsync(f.FileHandle, f.StateId, 0, 3 * Block).Bounded()).ValueOrThrow();
        Assert.Equal([DataContent.Data, DataContent.Hole, DataContent.Data], plus.Segments.Select(x => x.Content).ToArray());
        Assert.True(plus.Eof);

        // Past the end of the file is fine and changes nothing; an empty range or one past 2^64 is INVAL.
        Assert.Equal(NfsStat4.Ok, await s.DeallocateAsync(f.FileHandle, f.StateId, 10 * Block, Block).Bounded());
        Assert.Equal((ulong)(3 * Block), (await s.GetAttrAsync(f.FileHandle, AttrBitmap.Of(FileAttr.Size)).Bounded()).ValueOrThrow().Size);
        Assert.Equal(NfsStat4.Inval, await s.DeallocateAsync(f.FileHandle, f.StateId, 0, 0).Bounded());
        Assert.Equal(NfsStat4.Inval, await s.DeallocateAsync(f.FileHandle, f.StateId, 2, ulong.MaxValue).Bounded());
    }

    [Fact]
    public async Task ALLOCATE_grows_the_file_with_reserved_zeros_and_refuses_ranges_past_maxfilesize()
    {
        await using var s = await ConnectAsync();
        var (_, _, f) = await NewFileAsync(s, "allocate");

        Assert.Equal(NfsStat4.Ok, await s.AllocateAsync(f.FileHandle, f.StateId, 0, 3 * Block).Bounded());

        var attrs = (await s.GetAttrAsync(f.FileHandle, AttrBitmap.Of(FileAttr.Size, FileAttr.SpaceUsed, FileAttr.MaxFileSize)).Bounded()).ValueOrThrow();
        Assert.Equal((ulong)(3 * Block), attrs.Size);
        Assert.Equal((ulong)(3 * Block), attrs.SpaceUsed);
        var read = (await s.ReadAsync(f.FileHandle, f.StateId, 0, 3 * Block).Bounded()).ValueOrThrow();
        Assert.Equal(new byte[3 * Block], read.Data.ToArray());
        Assert.Equal(NfsStat4.FBig, await s.AllocateAsync(f.FileHandle, f.StateId, attrs.MaxFileSize!.Value, 1).Bounded());
        Assert.Equal(NfsStat4.FBig, await s.AllocateAsync(f.FileHandle, f.StateId, 1, ulong.MaxValue).Bounded());
        Assert.Equal(NfsStat4.Inval, await s.AllocateAsync(f.FileHandle, f.StateId, 0, 0).Bounded());
    }

    [Fact]
    public async Task The_stateid_rules_are_READs_and_WRITEs_and_a_directory_is_ISDIR()
    {
        await using var s = await ConnectAsync();
        var (root, name, f) = await NewFileAsync(s, "rules");
        Assert.Equal(NfsStat4.Ok, (await s.WriteAsync(f.FileHandle, f.StateId, 0, ServerFixture.Bytes("data")).Bounded()).Status);
        var reader = (await s.OpenAsync(root, name, ShareAccess.Read, owner: s.NewOwner("reader")).Bounded()).ValueOrThrow();

        // A read-only open may SEEK and READ_PLUS, not ALLOCATE or DEALLOCATE.
        Assert.Equal(NfsStat4.OpenMode, await s.AllocateAsync(f.FileHandle, reader.StateId, 0, Block).Bounded());
        Assert.Equal(NfsStat4.OpenMode, await s.DeallocateAsync(f.FileHandle, reader.StateId, 0, Block).Bounded());
        Assert.True((await s.SeekAsync(f.FileHandle, reader.StateId, 0, DataContent.Data).Bounded()).IsOk);
        Assert.True((await s.ReadPlusAsync(f.FileHandle, reader.StateId, 0, 10).Bounded()).IsOk);
        // The anonymous stateid does both; a stateid of another file is BAD_STATEID.
        Assert.Equal(NfsStat4.Ok, await s.AllocateAsync(f.FileHandle, StateId.Anonymous, 0, Block).Bounded());
        var (_, _, other) = await NewFileAsync(s, "other");
        Assert.Equal(NfsStat4.BadStateId, await s.DeallocateAsync(other.FileHandle, f.StateId, 0, Block).Bounded());
        Assert.Equal(NfsStat4.BadStateId, (await s.SeekAsync(other.FileHandle, f.StateId, 0, DataContent.Data).Bounded()).Status);

        Assert.Equal(NfsStat4.IsDir, await s.AllocateAsync(root, StateId.Anonymous, 0, Block).Bounded());
        Assert.Equal(NfsStat4.IsDir, (await s.ReadPlusAsync(root, StateId.Anonymous, 0, 10).Bounded()).Status);
        Assert.Equal(NfsStat4.IsDir, (await s.SeekAsync(root, StateId.Anonymous, 0, DataContent.Data).Bounded()).Status);
    }

    [Fact]
    public async Task IO_ADVISE_answers_only_the_hints_applied()
    {
        await using var s = await ConnectAsync();
        var f = await SparseFileAsync(s);

        var willNeed = (await s.IoAdviseAsync(f.FileHandle, f.StateId, 0, 0, [IoAdvice.WillNeed, IoAdvice.Sequential]).Bounded()).ValueOrThrow();
        Assert.Equal(new[] { IoAdvice.WillNeed }, willNeed.Applied);
        var dontNeed = (await s.IoAdviseAsync(f.FileHandle, f.StateId, Block, Block, [IoAdvice.DontNeed]).Bounded()).ValueOrThrow();
        Assert.Equal(new[] { IoAdvice.DontNeed }, dontNeed.Applied);
        // Hints it cannot act on, and contradicting ones, are never an error (§15.5.3): nothing is claimed.
        var none = (await s.IoAdviseAsync(f.FileHandle, f.StateId, 0, 0, [IoAdvice.Random, IoAdvice.InitProximity, IoAdvice.WillNeed, IoAdvice.DontNeed]).Bounded()).ValueOrThrow();
        Assert.Empty(none.Applied);
    }

    [Fact]
    public async Task DEALLOCATE_by_another_client_recalls_a_read_delegation_first_and_then_punches()
    {
        await using var s = await ConnectAsync();
        var (root, name, f) = await NewFileAsync(s, "recall");
        Assert.Equal(NfsStat4.Ok, (await s.WriteAsync(f.FileHandle, f.StateId, 0, Enumerable.Repeat((byte)'x', 2 * Block).ToArray()).Bounded()).Status);
        Assert.Equal(NfsStat4.Ok, (await s.CloseAsync(f.FileHandle, f.StateId).Bounded()).Status);
        var (holder, handler) = await ConnectWithBackChannelAsync();
        await using var holding = holder;
        var held = (await holder.OpenAsync(root, name, ShareAccess.Read).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.Read, held.Delegation.Type);

        // The first DEALLOCATE answers DELAY at once; the holder hears CB_RECALL of its delegation.
        Assert.Equal(NfsStat4.Delay, await s.DeallocateAsync(f.FileHandle, StateId.Anonymous, 0, Block).Bounded());
        using (var timeout = new CancellationTokenSource(Waits.Timeout))
        {
            var recall = await handler.Recalls.ReadAsync(timeout.Token);
            Assert.Equal(held.Delegation.StateId, recall.StateId);
            Assert.Equal(f.FileHandle, recall.FileHandle);
        }
        Assert.Equal(NfsStat4.Delay, await s.DeallocateAsync(f.FileHandle, StateId.Anonymous, 0, Block).Bounded()); // still pending
        Assert.Equal(NfsStat4.Ok, await holder.DelegReturnAsync(f.FileHandle, held.Delegation.StateId).Bounded());

        Assert.Equal(NfsStat4.Ok, await s.DeallocateAsync(f.FileHandle, StateId.Anonymous, 0, Block).Bounded());
        var read = (await holder.ReadAsync(f.FileHandle, held.StateId, 0, 2 * Block).Bounded()).ValueOrThrow();
        Assert.Equal(new byte[Block], read.Data[..Block].ToArray());
        Assert.All(read.Data[Block..].ToArray(), b => Assert.Equal((byte)'x', b));
    }

    [Fact]
    public async Task The_holders_own_DEALLOCATE_and_ALLOCATE_do_not_recall_its_delegation()
    {
        await using var s = await ConnectAsync();
        var (root, name, f) = await NewFileAsync(s, "own");
        Assert.Equal(NfsStat4.Ok, (await s.WriteAsync(f.FileHandle, f.StateId, 0, Enumerable.Repeat((byte)'x', 2 * Block).ToArray()).Bounded()).Status);
        Assert.Equal(NfsStat4.Ok, (await s.CloseAsync(f.FileHandle, f.StateId).Bounded()).Status);
        var (holder, handler) = await ConnectWithBackChannelAsync();
        await using var holding = holder;
        var held = (await holder.OpenAsync(root, name, ShareAccess.Read).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.Read, held.Delegation.Type);
        var writer = (await holder.OpenAsync(root, name, ShareAccess.Write, owner: holder.NewOwner("writer")).Bounded()).ValueOrThrow();

        Assert.Equal(NfsStat4.Ok, await holder.DeallocateAsync(f.FileHandle, writer.StateId, 0, Block).Bounded());
        Assert.Equal(NfsStat4.Ok, await holder.AllocateAsync(f.FileHandle, writer.StateId, 2 * Block, Block).Bounded());

        Assert.False(handler.Recalls.TryRead(out _));
        var plus = (await holder.ReadPlusAsync(f.FileHandle, held.Delegation.StateId, 0, 3 * Block).Bounded()).ValueOrThrow();
        // Block 0 is a hole now, block 1 still data; block 2 is reserved but unwritten, which ext4 reports as a hole.
        Assert.Equal([(DataContent.Hole, 0ul, (ulong)Block), (DataContent.Data, (ulong)Block, (ulong)Block), (DataContent.Hole, (ulong)(2 * Block), (ulong)Block)],
            plus.Segments.Select(x => (x.Content, x.Offset, x.Length)).ToArray());
        Assert.True(plus.Eof);
        Assert.Equal(NfsStat4.Ok, await holder.DelegReturnAsync(f.FileHandle, held.Delegation.StateId).Bounded()); // still held, not revoked
    }

    [Fact]
    public async Task The_space_operations_are_OP_ILLEGAL_in_a_4_1_COMPOUND()
    {
        var root = await fx.RootAsync();
        using var c = new CompoundBuilder("4.1").PutFh(root).Seek(StateId.Anonymous, 0, DataContent.Data);
        var reply = await fx.Session.CompoundAsync(c).Bounded(); // the fixture's session is 4.1
        Assert.Equal(NfsStat4.OpIllegal, reply.Status);
        Assert.Equal(NfsOpcode.Illegal, reply.Results[^1].Op);
    }
}

/// <summary>On a read-only export ALLOCATE and DEALLOCATE are ROFS; SEEK and READ_PLUS read as ever.</summary>
public sealed class SpaceReadOnlyTests(ReadOnlyServerFixture fx) : IClassFixture<ReadOnlyServerFixture>
{
    [Fact]
    public async Task ALLOCATE_and_DEALLOCATE_are_ROFS_and_reading_works()
    {
        await using var s = await fx.ConnectAsync(options: new Nfs4SessionOptions { MinorVersion = 2, BackChannel = false });
        var root = await fx.RootAsync();
        var f = (await s.OpenAsync(root, ReadOnlyServerFixture.ExistingFile, ShareAccess.Read).Bounded()).ValueOrThrow();

        Assert.Equal(NfsStat4.Rofs, await s.AllocateAsync(f.FileHandle, StateId.Anonymous, 0, 4096).Bounded());
        Assert.Equal(NfsStat4.Rofs, await s.DeallocateAsync(f.FileHandle, StateId.Anonymous, 0, 4096).Bounded());

        var seek = (await s.SeekAsync(f.FileHandle, f.StateId, 0, DataContent.Hole).Bounded()).ValueOrThrow();
        Assert.Equal((7ul, true), (seek.Offset, seek.Eof)); // "read me": the hole at the end
        var plus = (await s.ReadPlusAsync(f.FileHandle, f.StateId, 0, 100).Bounded()).ValueOrThrow();
        Assert.True(plus.Eof);
        Assert.Equal("read me", System.Text.Encoding.UTF8.GetString(plus.Flatten()));
        Assert.Equal("read me", File.ReadAllText(Path.Join(fx.ExportPath, ReadOnlyServerFixture.ExistingFile)));
    }
}
