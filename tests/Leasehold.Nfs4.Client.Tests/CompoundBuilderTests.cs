using Leasehold.Nfs4.Client;
using Leasehold.Rpc.Messages;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Client.Tests;

/// <summary>Encodings checked against bytes written out by hand from the XDR in RFC 8881 §16–§18.</summary>
public sealed class CompoundBuilderTests
{
    private static readonly SessionId Session = new(UInt128.Parse("0102030405060708090a0b0c0d0e0f10", System.Globalization.NumberStyles.HexNumber));

    [Fact]
    public void Sequence_putrootfh_lookup_getfh_getattr_matches_the_rfc_encoding()
    {
        using var c = new CompoundBuilder().Sequence(Session, slot: 2, sequenceId: 5, highestSlot: 7)
            .PutRootFh().Lookup("export").GetFh().GetAttr(FileAttr.Type, FileAttr.Size);
        var expected = Hex.Parse("""
            00000000                          # tag: empty string
            00000001                          # minorversion 1
            00000005                          # 5 operations
            00000035                          # OP_SEQUENCE (53)
            0102030405060708090a0b0c0d0e0f10  #   sa_sessionid
            00000005 00000002 00000007        #   sequenceid, slotid, highest_slotid
            00000000                          #   cachethis FALSE
            00000018                          # OP_PUTROOTFH (24)
            0000000f 00000006 6578706f 72740000  # OP_LOOKUP (15) "export", padded to 8
            0000000a                          # OP_GETFH (10)
            00000009 00000001 00000012        # OP_GETATTR (9), bitmap4 of one word: bits 1 (type) and 4 (size)
            """);
        Assert.Equal(Hex.Of(expected), Hex.Of(c.ToArray()));
        Assert.Equal([NfsOpcode.Sequence, NfsOpcode.PutRootFh, NfsOpcode.Lookup, NfsOpcode.GetFh, NfsOpcode.GetAttr], c.Opcodes);
    }

    [Fact]
    public void Session_prefix_puts_a_sequence_in_front_of_the_built_ops()
    {
        using var plain = new CompoundBuilder("t").Sequence(Session, 1, 9, 3).PutRootFh();
        using var ops = new CompoundBuilder("t").PutRootFh();
        using var w = new XdrWriter();
        ops.WriteTo(w, new SequenceArgs(Session, 9, 1, 3, false));
        Assert.Equal(Hex.Of(plain.ToArray()), Hex.Of(w.WrittenSpan));
    }

    [Fact]
    public void Open_claim_null_unchecked_create_with_mode()
    {
        using var c = new CompoundBuilder().Open("f", ShareAccess.Both, new StateOwner(0x1122334455667788, "ab"u8.ToArray()),
            OpenHow.Unchecked(new SetAttributes { Mode = Convert.ToUInt32("644", 8) }));
        var expected = Hex.Parse("""
            00000000 00000001 00000001
            00000012                 # OP_OPEN (18)
            00000000                 # seqid 0 (ignored in 4.1)
            00000003 00000000        # share_access BOTH, share_deny NONE
            1122334455667788         # open_owner4.clientid
            00000002 61620000        # open_owner4.owner "ab"
            00000001                 # openflag4: OPEN4_CREATE
            00000000                 # createmode4: UNCHECKED4
            00000002 00000000 00000002   # fattr4.attrmask: two words, bit 33 (mode)
            00000004 000001a4        # fattr4.attr_vals: mode 0644
            00000000                 # open_claim4: CLAIM_NULL
            00000001 66000000        # file "f"
            """);
        Assert.Equal(Hex.Of(expected), Hex.Of(c.ToArray()));
    }

    [Fact]
    public void Open_claim_fh_exclusive41_and_claim_deleg_cur_fh()
    {
        using var c = new CompoundBuilder().Open(OpenClaim.Fh, ShareAccess.Read | ShareAccess.WantNoDelegation, ShareDeny.Write,
            new StateOwner(1, []), OpenHow.Exclusive41(0xAABBCCDDEEFF0011))
            .Open(OpenClaim.DelegCurFh(new StateId(3, 0x0102)), ShareAccess.Read, ShareDeny.None, new StateOwner(1, []));
        var expected = Hex.Parse("""
            00000000 00000001 00000002
            00000012 00000000 00000401 00000002   # OPEN, seqid, READ|WANT_NO_DELEG, DENY_WRITE
            0000000000000001 00000000             # owner: clientid 1, empty name
            00000001 00000003 aabbccddeeff0011    # CREATE, EXCLUSIVE4_1, verifier
            00000000 00000000                     #   cva_attrs: empty bitmap, empty attrlist
            00000004                              # CLAIM_FH
            00000012 00000000 00000001 00000000 0000000000000001 00000000 00000000   # OPEN, NOCREATE
            00000005 00000003 000000000000000000000102   # CLAIM_DELEG_CUR_FH, stateid {3, other}
            """);
        Assert.Equal(Hex.Of(expected), Hex.Of(c.ToArray()));
    }

    [Fact]
    public void Exchange_id_and_create_session_with_back_channel()
    {
        using var c = new CompoundBuilder().ExchangeId(new ExchangeIdArgs(0x0102030405060708, "me"u8.ToArray(), ExchangeIdFlags.None))
            .CreateSession(new CreateSessionArgs(0x10, 1, CreateSessionFlags.ConnBackChannel,
                new ChannelAttrs(0, 1000, 2000, 300, 8, 16), new ChannelAttrs(0, 100, 200, 0, 2, 1), 0x40000000,
                [new RpcCredentials(AuthFlavor.Sys, 5, 6, [7], "h")]));
        var expected = Hex.Parse("""
            00000000 00000001 00000002
            0000002a 0102030405060708 00000002 6d650000   # EXCHANGE_ID: verifier, co_ownerid "me"
            00000000 00000000 00000000                  # flags, SP4_NONE, no impl id
            0000002b 0000000000000010 00000001 00000002 # CREATE_SESSION: clientid, sequence, CONN_BACK_CHAN
            00000000 000003e8 000007d0 0000012c 00000008 00000010 00000000   # fore channel, no rdma_ird
            00000000 00000064 000000c8 00000000 00000002 00000001 00000000   # back channel
            40000000                                    # cb_program
            00000001 00000001                           # one callback_sec_parms4: AUTH_SYS
            00000000 00000001 68000000 00000005 00000006 00000001 00000007   # stamp, "h", uid, gid, gids
            """);
        Assert.Equal(Hex.Of(expected), Hex.Of(c.ToArray()));
    }

    [Fact]
    public void Io_and_lock_operations()
    {
        var sid = new StateId(7, 0xABCDEF);
        using var c = new CompoundBuilder()
            .Read(sid, 4096, 512)
            .Write(sid, 8, [1, 2, 3], StableHow.Unstable)
            .Commit(0, 0)
            .Close(sid)
            .Lock(LockType.Write, 0, ulong.MaxValue, Locker.FromOpen(sid, new StateOwner(2, "L"u8.ToArray())))
            .Lock(LockType.Read, 10, 20, Locker.Existing(sid))
            .LockT(LockType.Write, 1, 2, new StateOwner(2, []))
            .LockU(LockType.Write, sid, 3, 4);
        var s = "00000007 000000000000000000abcdef";
        var expected = Hex.Parse($"""
            00000000 00000001 00000008
            00000019 {s} 0000000000001000 00000200             # READ
            00000026 {s} 0000000000000008 00000000 00000003 01020300   # WRITE UNSTABLE4 3 bytes
            00000005 0000000000000000 00000000                 # COMMIT
            00000004 00000000 {s}                              # CLOSE: seqid, stateid
            0000000c 00000002 00000000 0000000000000000 ffffffffffffffff   # LOCK WRITE_LT, no reclaim
            00000001 00000000 {s} 00000000 0000000000000002 00000001 4c000000  # open_to_lock_owner4
            0000000c 00000001 00000000 000000000000000a 0000000000000014
            00000000 {s} 00000000                              # exist_lock_owner4
            0000000d 00000002 0000000000000001 0000000000000002 0000000000000002 00000000   # LOCKT
            0000000e 00000002 00000000 {s} 0000000000000003 0000000000000004   # LOCKU
            """);
        Assert.Equal(Hex.Of(expected), Hex.Of(c.ToArray()));
    }

    [Fact]
    public void Namespace_and_state_operations()
    {
        using var c = new CompoundBuilder("tag")
            .CreateDirectory("d").CreateSymlink("l", "t").Remove("x").Rename("a", "b").Link("n")
            .ReadDir(5, 6, 100, 200, AttrBitmap.Of(FileAttr.FileId)).ReadLink().LookupP().SaveFh().RestoreFh()
            .TestStateId(new StateId(1, 2)).FreeStateId(new StateId(1, 2)).DelegReturn(new StateId(1, 2))
            .SecInfoNoName(SecInfoStyle.Parent).ReclaimComplete().DestroySession(Session).DestroyClientId(9)
            .Access(AccessBits.Read | AccessBits.Lookup).SetAttr(new SetAttributes { Size = 0 }).Verify(new SetAttributes { Size = 1 })
            .NVerify(new SetAttributes { Size = 1 }).BindConnToSession(Session, ChannelDirFromClient.ForeOrBoth)
            .OpenDowngrade(new StateId(1, 2), ShareAccess.Read, ShareDeny.None);
        var s = "00000001 000000000000000000000002";
        var expected = Hex.Parse($"""
            00000003 74616700 00000001 00000017             # tag "tag", minor 1, 23 ops
            00000006 00000002 00000001 64000000 00000000 00000000    # CREATE NF4DIR "d", empty fattr4
            00000006 00000005 00000001 74000000 00000001 6c000000 00000000 00000000  # CREATE NF4LNK "t" "l"
            0000001c 00000001 78000000                      # REMOVE "x"
            0000001d 00000001 61000000 00000001 62000000    # RENAME "a" "b"
            0000000b 00000001 6e000000                      # LINK "n"
            0000001a 0000000000000005 0000000000000006 00000064 000000c8 00000001 00100000  # READDIR, bitmap: bit 20 (fileid)
            0000001b 00000010 00000020 0000001f             # READLINK, LOOKUPP, SAVEFH, RESTOREFH
            00000037 00000001 {s}                           # TEST_STATEID of one
            0000002d {s}                                    # FREE_STATEID
            00000008 {s}                                    # DELEGRETURN
            00000034 00000001                               # SECINFO_NO_NAME parent
            0000003a 00000000                               # RECLAIM_COMPLETE one_fs FALSE
            0000002c 0102030405060708090a0b0c0d0e0f10       # DESTROY_SESSION
            00000039 0000000000000009                       # DESTROY_CLIENTID
            00000003 00000003                               # ACCESS READ|LOOKUP
            00000022 00000000 000000000000000000000000 00000001 00000010 00000008 0000000000000000  # SETATTR size 0
            00000025 00000001 00000010 00000008 0000000000000001     # VERIFY size 1
            00000011 00000001 00000010 00000008 0000000000000001     # NVERIFY size 1
            00000029 0102030405060708090a0b0c0d0e0f10 00000003 00000000   # BIND_CONN_TO_SESSION
            00000015 {s} 00000000 00000001 00000000         # OPEN_DOWNGRADE
            """);
        Assert.Equal(Hex.Of(expected), Hex.Of(c.ToArray()));
    }

    [Fact]
    public void Special_stateids_and_stateid_round_trip()
    {
        using var w = new XdrWriter();
        StateId.ReadBypass.Write(w);
        StateId.Current.Write(w);
        new StateId(0xDEADBEEF, UInt128.Parse("0102030405060708090a0b0c", System.Globalization.NumberStyles.HexNumber)).Write(w);
        Assert.Equal(Hex.Of(Hex.Parse("ffffffff ffffffffffffffffffffffff 00000001 000000000000000000000000 deadbeef 0102030405060708090a0b0c")),
            Hex.Of(w.WrittenSpan));
        var r = new XdrReader(w.WrittenSpan);
        Assert.Equal(StateId.ReadBypass, StateId.Read(ref r));
        Assert.Equal(StateId.Current, StateId.Read(ref r));
        Assert.Equal(0xDEADBEEFu, StateId.Read(ref r).SeqId);
        Assert.Equal(default, StateId.Anonymous);
    }

    [Fact]
    public void Bitmap_lists_attributes_in_number_order()
    {
        var b = AttrBitmap.Of(FileAttr.MountedOnFileId, FileAttr.Type, FileAttr.Mode, FileAttr.Size);
        Assert.Equal([FileAttr.Type, FileAttr.Size, FileAttr.Mode, FileAttr.MountedOnFileId], b.ToArray());
        Assert.Equal(new uint[] { 0x12, (1u << 1) | (1u << 23) }, b.Words.ToArray());
        Assert.True(b.Contains(FileAttr.Mode));
        Assert.False(b.Contains(FileAttr.Owner));
        Assert.False(b.Contains(FileAttr.FsCharsetCap)); // past the last word
        Assert.Equal(b, new AttrBitmap(0x12, (1u << 1) | (1u << 23), 0));
    }

    [Theory]
    [InlineData("127.0.0.1:20490/export", "127.0.0.1", 20490, "/export")]
    [InlineData("server", "server", 2049, "/")]
    [InlineData("[::1]:2050/a/b", "::1", 2050, "/a/b")]
    [InlineData("host:1/", "host", 1, "/")]
    public void Endpoint_parses_host_port_and_path(string text, string host, int port, string path)
    {
        var e = Nfs4Endpoint.Parse(text);
        Assert.Equal((host, port, path), (e.Host, e.Port, e.Path));
    }

    [Fact]
    public void Endpoint_rejects_a_bad_port() => Assert.Throws<FormatException>(() => Nfs4Endpoint.Parse("h:99999/x"));
}
