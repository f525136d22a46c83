using System.Text;
using Leasehold.Nfs4.Client;
using Leasehold.Nfs4.Client.Rpc;

namespace Leasehold.IntegrationTests;

/// <summary>
/// What the Linux client does at mount time and on the first write, step by step on one connection, with the SEQUENCE
/// of every compound built by hand (slot 0, sequence ids 1, 2, 3…) so each step's answer is checked on its own.
/// </summary>
public sealed class MountSequenceTests(ServerFixture fx) : IClassFixture<ServerFixture>
{
    [Fact]
    public async Task Mount_sequence_creates_a_session_and_a_written_file_reaches_the_export_directory()
    {
        await using var rpc = await RpcClient.ConnectAsync(fx.EndPoint).Bounded();
        async Task<CompoundReply> Send(CompoundBuilder compound)
        {
            var reply = await rpc.CallAsync(Nfs4Session.NfsProgram, Nfs4Session.NfsVersion, 1, RpcAuth.Root, compound,
                static (w, c) => c.WriteTo(w)).Bounded();
            return CompoundReply.Decode(reply.Results);
        }

        // EXCHANGE_ID: a new client record, not yet confirmed.
        using var exchange = new CompoundBuilder("mount").ExchangeId(new ExchangeIdArgs(0x1234_5678,
            Encoding.UTF8.GetBytes(ServerFixture.NewName("mount-client")), ExchangeIdFlags.None, new ImplementationId("test", "mount", default)));
        var exchanged = (await Send(exchange)).ThrowIfFailed().Get<ExchangeIdResult>();
        Assert.NotEqual(0ul, exchanged.ClientId);
        Assert.False(exchanged.Flags.HasFlag(ExchangeIdFlags.ConfirmedR), "a new client record is not confirmed yet");
        Assert.Equal(0u, exchanged.StateProtect); // SP4_NONE

        // CREATE_SESSION with the sequence id EXCHANGE_ID gave.
        var fore = new ChannelAttrs(0, 1024 * 1024 + 8192, 1024 * 1024 + 8192, 8192, 16, 8);
        var back = new ChannelAttrs(0, 16 * 1024, 16 * 1024, 0, 8, 1);
        using var create = new CompoundBuilder("mount").CreateSession(new CreateSessionArgs(exchanged.ClientId, exchanged.SequenceId,
            CreateSessionFlags.None, fore, back, 0x4000_0000, [RpcAuth.Root]));
        var session = (await Send(create)).ThrowIfFailed().Get<CreateSessionResult>();
        Assert.NotEqual(default, session.SessionId);
        Assert.Equal(exchanged.SequenceId, session.SequenceId);
        Assert.InRange(session.ForeChannel!.MaxRequests, 1u, 8u);

        uint seq = 0;
        CompoundBuilder Compound() => new CompoundBuilder("mount").Sequence(session.SessionId, slot: 0, sequenceId: ++seq);

        // RECLAIM_COMPLETE: nothing to reclaim on a first mount.
        using (var rc = Compound().ReclaimComplete())
            Assert.Equal(NfsStat4.Ok, (await Send(rc)).Status);

        // PUTROOTFH, GETATTR of what a mount asks about the root.
        FileHandle root;
        using (var getattr = Compound().PutRootFh().GetFh().GetAttr(FileAttr.SupportedAttrs, FileAttr.Type, FileAttr.Fsid, FileAttr.LeaseTime))
        {
            var reply = (await Send(getattr)).ThrowIfFailed();
            root = reply.Get<GetFhResult>().FileHandle!;
            var attrs = reply.Get<GetAttrResult>().Attributes!;
            Assert.Equal(NfsFileType.Directory, attrs.Type);
            Assert.NotNull(attrs.Fsid);
            Assert.Equal((uint)fx.LeaseTime.TotalSeconds, attrs.LeaseTime);
            foreach (var required in new[] { FileAttr.SupportedAttrs, FileAttr.Type, FileAttr.FhExpireType, FileAttr.Change, FileAttr.Size,
                FileAttr.LinkSupport, FileAttr.SymlinkSupport, FileAttr.NamedAttr, FileAttr.Fsid, FileAttr.UniqueHandles,
                FileAttr.LeaseTime, FileAttr.RdattrError, FileAttr.FileHandle, FileAttr.SuppattrExclcreat,
                FileAttr.Mode, FileAttr.NumLinks, FileAttr.Owner, FileAttr.OwnerGroup, FileAttr.FileId, FileAttr.TimeModify })
                Assert.True(attrs.SupportedAttrs!.Contains(required), $"supported_attrs lacks {required}");
        }

        // LOOKUP of a directory made on disk beforehand.
        string dirName = ServerFixture.NewName("mnt");
        Directory.CreateDirectory(Path.Join(fx.ExportPath, dirName));
        FileHandle dir;
        using (var lookup = Compound().PutFh(root).Lookup(dirName).GetFh())
            dir = (await Send(lookup)).ThrowIfFailed().Get<GetFhResult>().FileHandle!;

        // OPEN(create) + WRITE(FILE_SYNC) in one compound, as the Linux client does for O_CREAT|O_WRONLY then write.
        byte[] body = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("mounted and written\n", 500)));
        var owner = new StateOwner(exchanged.ClientId, Encoding.UTF8.GetBytes("open-owner-1"));
        FileHandle file;
        StateId open;
        using (var write = Compound().PutFh(dir).Open("file.txt", ShareAccess.Both, owner, OpenHow.Guarded(new SetAttributes { Mode = Convert.ToUInt32("644", 8) }))
            .GetFh().Write(StateId.Current, 0, body, StableHow.FileSync))
        {
            var reply = (await Send(write)).ThrowIfFailed();
            open = reply.Get<OpenResult>().StateId;
            file = reply.Get<GetFhResult>().FileHandle!;
            var written = reply.Get<WriteResult>();
            Assert.Equal((uint)body.Length, written.Count);
            Assert.Equal(StableHow.FileSync, written.Committed);
        }

        // READ it back through the server.
        using (var read = Compound().PutFh(file).Read(open, 0, 1024 * 1024))
        {
            var data = (await Send(read)).ThrowIfFailed().Get<ReadResult>();
            Assert.True(data.Eof);
            Assert.Equal(body, data.Data.ToArray());
        }

        using (var close = Compound().PutFh(file).Close(open))
            Assert.Equal(NfsStat4.Ok, (await Send(close)).Status);

        // FILE_SYNC means on disk: read the file directly, around the server.
        Assert.Equal(body, await File.ReadAllBytesAsync(Path.Join(fx.ExportPath, dirName, "file.txt")));
    }
}
