using Leasehold.Nfs4.Client;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Client.Tests;

/// <summary>The decoder on replies written here by hand, field by field, as a server would (RFC 8881 §16.2.3, §18).</summary>
public sealed class CompoundReplyTests
{
    private static readonly SessionId Session = new(0x0102);
    private static readonly StateId Sid = new(2, 0x0A0B0C);

    private static byte[] Reply(NfsStat4 status, int count, Action<XdrWriter> results, string tag = "")
    {
        using var w = new XdrWriter();
        w.WriteUInt32((uint)status);
        w.WriteString(tag);
        w.WriteUInt32((uint)count);
        results(w);
        return w.WrittenSpan.ToArray();
    }

    private static void Op(XdrWriter w, NfsOpcode op, NfsStat4 status = NfsStat4.Ok)
    {
        w.WriteUInt32((uint)op);
        w.WriteUInt32((uint)status);
    }

    private static void SequenceOk(XdrWriter w)
    {
        Op(w, NfsOpcode.Sequence);
        Session.Write(w);
        w.WriteUInt32(5); w.WriteUInt32(2); w.WriteUInt32(7); w.WriteUInt32(63); w.WriteUInt32(0x40);
    }

    [Fact]
    public void Open_with_a_read_delegation_getfh_and_getattr()
    {
        var data = Reply(NfsStat4.Ok, 5, w =>
        {
            SequenceOk(w);
            Op(w, NfsOpcode.PutFh);
            Op(w, NfsOpcode.Open);
            Sid.Write(w);
            w.WriteBool(true); w.WriteUInt64(10); w.WriteUInt64(11);      // change_info4
            w.WriteUInt32(4);                                            // rflags: LOCKTYPE_POSIX
            AttrBitmap.Of(FileAttr.Mode).Write(w);                       // attrset
            w.WriteUInt32((uint)DelegationType.Read);
            new StateId(1, 0xDE1E).Write(w);
            w.WriteBool(false);                                          // recall
            w.WriteUInt32(0); w.WriteUInt32(0); w.WriteUInt32(1); w.WriteString("EVERYONE@");
            Op(w, NfsOpcode.GetFh);
            w.WriteOpaque([0xF0, 0x0D, 0x01]);
            Op(w, NfsOpcode.GetAttr);
            AttrBitmap.Of(FileAttr.Type, FileAttr.Change, FileAttr.Size, FileAttr.Fsid, FileAttr.LeaseTime, FileAttr.FileId,
                FileAttr.Mode, FileAttr.NumLinks, FileAttr.Owner, FileAttr.OwnerGroup, FileAttr.SpaceUsed, FileAttr.TimeAccess,
                FileAttr.TimeMetadata, FileAttr.TimeModify, FileAttr.MountedOnFileId).Write(w);
            int at = w.ReserveUInt32();
            int start = w.Position;
            w.WriteUInt32(1);                            // type NF4REG
            w.WriteUInt64(99);                           // change
            w.WriteUInt64(4096);                         // size
            w.WriteUInt64(7); w.WriteUInt64(8);          // fsid
            w.WriteUInt32(60);                           // lease_time
            w.WriteUInt64(1234);                         // fileid
            w.WriteUInt32(Convert.ToUInt32("100644", 8));// mode
            w.WriteUInt32(1);                            // numlinks
            w.WriteString("1000"); w.WriteString("users");
            w.WriteUInt64(8192);                         // space_used
            w.WriteInt64(1_700_000_000); w.WriteUInt32(1);
            w.WriteInt64(1_700_000_001); w.WriteUInt32(2);
            w.WriteInt64(1_700_000_002); w.WriteUInt32(3);
            w.WriteUInt64(55);                           // mounted_on_fileid
            w.PatchUInt32(at, (uint)(w.Position - start));
        });

        var reply = CompoundReply.Decode(data);
        Assert.True(reply.IsOk);
        Assert.Equal(5, reply.Results.Count);
        var seq = reply.Get<SequenceResult>();
        Assert.Equal((Session, 5u, 2u, 7u, 63u, 0x40u), (seq.SessionId, seq.SequenceId, seq.SlotId, seq.HighestSlotId, seq.TargetHighestSlotId, seq.StatusFlags));
        var open = reply.Get<OpenResult>();
        Assert.Equal(Sid, open.StateId);
        Assert.Equal(new ChangeInfo(true, 10, 11), open.ChangeInfo);
        Assert.Equal(4u, open.ResultFlags);
        Assert.Equal(DelegationType.Read, open.Delegation!.Type);
        Assert.Equal(new StateId(1, 0xDE1E), open.Delegation.StateId);
        Assert.Equal("EVERYONE@", open.Delegation.Permissions!.Who);
        Assert.Equal(new FileHandle([0xF0, 0x0D, 0x01]), reply.Get<GetFhResult>().FileHandle);
        var a = reply.Get<GetAttrResult>().Attributes!;
        Assert.Equal(NfsFileType.Regular, a.Type);
        Assert.Equal(99ul, a.Change);
        Assert.Equal(4096ul, a.Size);
        Assert.Equal(new Fsid(7, 8), a.Fsid);
        Assert.Equal(60u, a.LeaseTime);
        Assert.Equal(1234ul, a.FileId);
        Assert.Equal(Convert.ToUInt32("100644", 8), a.Mode);
        Assert.Equal(1u, a.NumLinks);
        Assert.Equal(("1000", "users"), (a.Owner, a.OwnerGroup));
        Assert.Equal(8192ul, a.SpaceUsed);
        Assert.Equal(new NfsTime(1_700_000_000, 1), a.TimeAccess);
        Assert.Equal(new NfsTime(1_700_000_001, 2), a.TimeMetadata);
        Assert.Equal(new NfsTime(1_700_000_002, 3), a.TimeModify);
        Assert.Equal(55ul, a.MountedOnFileId);
        Assert.Null(a.SupportedAttrs);
    }

    [Fact]
    public void Write_delegation_with_a_size_limit_is_decoded()
    {
        var data = Reply(NfsStat4.Ok, 1, w =>
        {
            Op(w, NfsOpcode.Open);
            Sid.Write(w);
            w.WriteBool(false); w.WriteUInt64(1); w.WriteUInt64(2);
            w.WriteUInt32(0);
            AttrBitmap.Empty.Write(w);
            w.WriteUInt32((uint)DelegationType.Write);
            new StateId(1, 0x77).Write(w);
            w.WriteBool(true);
            w.WriteUInt32(1); w.WriteUInt64(1 << 20);  // NFS_LIMIT_SIZE
            w.WriteUInt32(0); w.WriteUInt32(0); w.WriteUInt32(0); w.WriteString("OWNER@");
        });
        var d = CompoundReply.Decode(data).Get<OpenResult>().Delegation!;
        Assert.Equal((DelegationType.Write, new StateId(1, 0x77), true), (d.Type, d.StateId, d.Recall));
    }

    /// <summary>OPEN with OPEN_DELEGATE_NONE_EXT and the given why_no_delegation4 (and its bool, if any), then GETFH.</summary>
    private static byte[] OpenNoneExtThenGetFh(uint why, bool? flag)
    {
        return Reply(NfsStat4.Ok, 2, w =>
        {
            Op(w, NfsOpcode.Open);
            Sid.Write(w);
            w.WriteBool(false); w.WriteUInt64(1); w.WriteUInt64(2);
            w.WriteUInt32(0);
            AttrBitmap.Empty.Write(w);
            w.WriteUInt32((uint)DelegationType.NoneExt);
            w.WriteUInt32(why);
            if (flag is { } f)
                w.WriteBool(f);
            Op(w, NfsOpcode.GetFh);
            w.WriteOpaque([0xAB, 0xCD]);
        });
    }

    [Fact]
    public void NoneExtContentionCarriesBool()
    {
        var reply = CompoundReply.Decode(OpenNoneExtThenGetFh(1, true)); // WND4_CONTENTION, ond_server_will_push_deleg
        var d = reply.Get<OpenResult>().Delegation!;
        Assert.Equal((DelegationType.NoneExt, 1u, true), (d.Type, d.WhyNone, d.ServerWillSignal));
        Assert.Equal(new FileHandle([0xAB, 0xCD]), reply.Get<GetFhResult>().FileHandle);
    }

    [Fact]
    public void NoneExtResourceCarriesBool()
    {
        var reply = CompoundReply.Decode(OpenNoneExtThenGetFh(2, false)); // WND4_RESOURCE, ond_server_will_signal_avail
        var d = reply.Get<OpenResult>().Delegation!;
        Assert.Equal((DelegationType.NoneExt, 2u, false), (d.Type, d.WhyNone, d.ServerWillSignal));
        Assert.Equal(new FileHandle([0xAB, 0xCD]), reply.Get<GetFhResult>().FileHandle);
    }

    [Theory]
    [InlineData(0u)] // WND4_NOT_WANTED
    [InlineData(7u)] // WND4_CANCELLED
    [InlineData(8u)] // WND4_IS_DIR
    public void NoneExtCancelledHasNoBool(uint why)
    {
        var reply = CompoundReply.Decode(OpenNoneExtThenGetFh(why, null));
        var d = reply.Get<OpenResult>().Delegation!;
        Assert.Equal((DelegationType.NoneExt, why, false), (d.Type, d.WhyNone, d.ServerWillSignal));
        Assert.Equal(new FileHandle([0xAB, 0xCD]), reply.Get<GetFhResult>().FileHandle);
    }

    [Fact]
    public void Decoding_stops_at_the_first_failed_op()
    {
        var data = Reply(NfsStat4.NoEnt, 3, w =>
        {
            SequenceOk(w);
            Op(w, NfsOpcode.PutRootFh);
            Op(w, NfsOpcode.Lookup, NfsStat4.NoEnt);
            // Nothing follows a failure; a server that sent more would be wrong, and we do not read it.
            w.WriteUInt32(0xFFFFFFFF);
        });
        var reply = CompoundReply.Decode(data);
        Assert.Equal(NfsStat4.NoEnt, reply.Status);
        Assert.Equal(3, reply.Results.Count);
        Assert.Equal(NfsOpcode.Lookup, reply.Failed!.Op);
        Assert.Null(reply.Find<GetFhResult>());
        Assert.Throws<InvalidOperationException>(() => reply.Get<GetFhResult>());
        Assert.Equal(NfsStat4.NoEnt, Nfs4Result.From<FileHandle>(reply, null).Status);
        Assert.Equal(NfsOpcode.Lookup, Nfs4Result.From<FileHandle>(reply, null).FailedOp);
    }

    [Fact]
    public void Lock_denied_and_lockt_denied_carry_the_conflict()
    {
        var data = Reply(NfsStat4.Denied, 1, w =>
        {
            Op(w, NfsOpcode.Lock, NfsStat4.Denied);
            w.WriteUInt64(100); w.WriteUInt64(50); w.WriteUInt32((uint)LockType.Write);
            w.WriteUInt64(3); w.WriteOpaque("other"u8);
        });
        var lockResult = CompoundReply.Decode(data).Get<LockResult>();
        Assert.Equal(NfsStat4.Denied, lockResult.Status);
        Assert.Equal((100ul, 50ul, LockType.Write, 3ul), (lockResult.Denied!.Offset, lockResult.Denied.Length, lockResult.Denied.Type, lockResult.Denied.Owner.ClientId));
        Assert.Equal("other"u8.ToArray(), lockResult.Denied.Owner.Owner);

        var granted = CompoundReply.Decode(Reply(NfsStat4.Ok, 2, w =>
        {
            Op(w, NfsOpcode.Lock);
            Sid.Write(w);
            Op(w, NfsOpcode.LockT);
        }));
        Assert.Equal(Sid, granted.Get<LockResult>().StateId);
        Assert.Null(granted.Get<LockTResult>().Denied);
    }

    [Fact]
    public void Failed_setattr_still_has_its_bitmap()
    {
        var reply = CompoundReply.Decode(Reply(NfsStat4.Perm, 1, w =>
        {
            Op(w, NfsOpcode.SetAttr, NfsStat4.Perm);
            AttrBitmap.Empty.Write(w);
        }));
        Assert.Equal(NfsStat4.Perm, reply.Get<SetAttrResult>().Status);
        Assert.Empty(reply.Get<SetAttrResult>().AttrsSet);
    }

    [Fact]
    public void Readdir_entries_follow_the_optional_list_encoding()
    {
        var reply = CompoundReply.Decode(Reply(NfsStat4.Ok, 1, w =>
        {
            Op(w, NfsOpcode.ReadDir);
            w.WriteUInt64(0xC00C1E);
            foreach (var (cookie, name, id) in new[] { (3ul, "a", 10ul), (4ul, "bb", 11ul) })
            {
                w.WriteBool(true);
                w.WriteUInt64(cookie);
                w.WriteString(name);
                AttrBitmap.Of(FileAttr.FileId).Write(w);
                w.WriteUInt32(8);
                w.WriteUInt64(id);
            }
            w.WriteBool(false); // no more entries
            w.WriteBool(true);  // eof
        }));
        var rd = reply.Get<ReadDirResult>();
        Assert.Equal(0xC00C1Eul, rd.CookieVerifier);
        Assert.True(rd.Eof);
        Assert.Equal(["a", "bb"], rd.Entries.Select(e => e.Name));
        Assert.Equal([10ul, 11ul], rd.Entries.Select(e => e.Attributes.FileId!.Value));
        Assert.Equal(4ul, rd.Entries[^1].Cookie);
    }

    [Fact]
    public void Session_and_io_results_are_decoded()
    {
        var reply = CompoundReply.Decode(Reply(NfsStat4.Ok, 9, w =>
        {
            Op(w, NfsOpcode.ExchangeId);
            w.WriteUInt64(0xC1); w.WriteUInt32(1); w.WriteUInt32(0x10000 | 0x80000000); w.WriteUInt32(0); // SP4_NONE
            w.WriteUInt64(5); w.WriteOpaque("major"u8); w.WriteOpaque("scope"u8);
            w.WriteUInt32(1); w.WriteString("dom"); w.WriteString("srv"); w.WriteInt64(0); w.WriteUInt32(0);
            Op(w, NfsOpcode.CreateSession);
            Session.Write(w); w.WriteUInt32(1); w.WriteUInt32(2);
            new ChannelAttrs(0, 1, 2, 3, 4, 5).Write(w);
            new ChannelAttrs(0, 6, 7, 8, 9, 10).Write(w);
            Op(w, NfsOpcode.Read);
            w.WriteBool(true); w.WriteOpaque("hello"u8);
            Op(w, NfsOpcode.Write);
            w.WriteUInt32(5); w.WriteUInt32(2); w.WriteUInt64(0xBEEF);
            Op(w, NfsOpcode.Commit);
            w.WriteUInt64(0xBEEF);
            Op(w, NfsOpcode.Rename);
            w.WriteBool(true); w.WriteUInt64(1); w.WriteUInt64(2); w.WriteBool(false); w.WriteUInt64(3); w.WriteUInt64(4);
            Op(w, NfsOpcode.TestStateId);
            w.WriteUInt32(2); w.WriteUInt32(0); w.WriteUInt32((uint)NfsStat4.BadStateId);
            Op(w, NfsOpcode.SecInfoNoName);
            w.WriteUInt32(2); w.WriteUInt32(1); w.WriteUInt32(6); w.WriteOpaque([0x2A]); w.WriteUInt32(0); w.WriteUInt32(1);
            Op(w, NfsOpcode.Close);
            Sid.Write(w);
        }));
        var x = reply.Get<ExchangeIdResult>();
        Assert.Equal((0xC1ul, 1u, ExchangeIdFlags.UseNonPnfs | ExchangeIdFlags.ConfirmedR), (x.ClientId, x.SequenceId, x.Flags));
        Assert.Equal("srv", x.ServerImpl!.Name);
        Assert.Equal("scope"u8.ToArray(), x.ServerScope);
        var cs = reply.Get<CreateSessionResult>();
        Assert.Equal((Session, CreateSessionFlags.ConnBackChannel, 5u, 10u), (cs.SessionId, cs.Flags, cs.ForeChannel!.MaxRequests, cs.BackChannel!.MaxRequests));
        Assert.Equal("hello"u8.ToArray(), reply.Get<ReadResult>().Data.ToArray());
        Assert.Equal((5u, StableHow.FileSync, 0xBEEFul), (reply.Get<WriteResult>().Count, reply.Get<WriteResult>().Committed, reply.Get<WriteResult>().Verifier));
        Assert.Equal(0xBEEFul, reply.Get<CommitResult>().Verifier);
        Assert.Equal(new ChangeInfo(false, 3, 4), reply.Get<RenameResult>().Target);
        Assert.Equal([NfsStat4.Ok, NfsStat4.BadStateId], reply.Get<TestStateIdResult>().StatusCodes);
        Assert.Equal([1u, 6u], reply.Get<SecInfoResult>().Flavors.Select(f => f.Flavor));
        Assert.Equal(Sid, reply.Get<StateIdResult>().StateId);
    }

    [Fact]
    public void A_truncated_reply_is_an_xdr_error()
    {
        var data = Reply(NfsStat4.Ok, 1, w =>
        {
            Op(w, NfsOpcode.GetFh);
            w.WriteUInt32(64); // says 64 bytes of filehandle, sends 4
            w.WriteUInt32(0);
        });
        Assert.Throws<XdrException>(() => CompoundReply.Decode(data));
    }

    [Fact]
    public void An_oversized_count_is_refused_before_allocating()
    {
        var data = Reply(NfsStat4.Ok, int.MaxValue, _ => { });
        Assert.Throws<XdrException>(() => CompoundReply.Decode(data));
    }

    [Fact]
    public void An_attribute_the_client_cannot_decode_is_an_xdr_error()
    {
        var data = Reply(NfsStat4.Ok, 1, w =>
        {
            Op(w, NfsOpcode.GetAttr);
            AttrBitmap.Of(FileAttr.FsLocations).Write(w);
            w.WriteUInt32(4); w.WriteUInt32(0);
        });
        var ex = Assert.Throws<XdrException>(() => CompoundReply.Decode(data));
        Assert.Contains("FsLocations", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Trailing_bytes_in_an_attrlist_are_an_xdr_error()
    {
        var data = Reply(NfsStat4.Ok, 1, w =>
        {
            Op(w, NfsOpcode.GetAttr);
            AttrBitmap.Of(FileAttr.Size).Write(w);
            w.WriteUInt32(12); w.WriteUInt64(1); w.WriteUInt32(0);
        });
        Assert.Throws<XdrException>(() => CompoundReply.Decode(data));
    }

    [Fact]
    public void Builder_and_decoder_agree_on_set_attributes()
    {
        var set = new SetAttributes { Size = 12, Mode = 0x1ED, Owner = "0", OwnerGroup = "0", TimeModify = NfsTimeSet.ServerTime };
        using var w = new XdrWriter();
        set.Write(w);
        var r = new XdrReader(w.WrittenSpan);
        var bitmap = AttrBitmap.Read(ref r);
        Assert.Equal([FileAttr.Size, FileAttr.Mode, FileAttr.Owner, FileAttr.OwnerGroup, FileAttr.TimeModifySet], bitmap.ToArray());
        var values = new XdrReader(r.ReadOpaque(1024));
        Assert.Equal(12ul, values.ReadUInt64());
        Assert.Equal(0x1EDu, values.ReadUInt32());
        Assert.Equal("0", values.ReadString(10));
        Assert.Equal("0", values.ReadString(10));
        Assert.Equal(0u, values.ReadUInt32()); // SET_TO_SERVER_TIME4
        Assert.Equal(0, values.Remaining);
    }
}
