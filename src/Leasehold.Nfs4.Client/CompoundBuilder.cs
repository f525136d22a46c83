using Leasehold.Nfs4.Client.Rpc;
using Leasehold.Rpc.Messages;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Client;

/// <summary>
/// Builds COMPOUND4args (RFC 8881 §16.2.3) one operation at a time, fluently, in the style of nfs4j's test builder:
/// <code>new CompoundBuilder().Sequence(args).PutRootFh().Lookup("export").GetFh().GetAttr(AttrBitmap.Basic)</code>
/// The operations are encoded as they are added; <see cref="WriteTo(XdrWriter)"/> puts the tag, minor version and
/// count in front. <see cref="Nfs4Session"/> adds the SEQUENCE itself, so a builder passed to a session starts with
/// the first real operation.
/// </summary>
public sealed partial class CompoundBuilder : IDisposable
{
    private readonly XdrWriter _ops = new(512);
    private readonly List<NfsOpcode> _opcodes = [];

    public CompoundBuilder(string tag = "") => Tag = tag;

    /// <summary>COMPOUND4args.tag: echoed by the server, handy in traces.</summary>
    public string Tag { get; set; }

    /// <summary>1 (NFSv4.1) or 2 (NFSv4.2); a session stamps its own on the compounds it sends (<see cref="Nfs4SessionOptions.MinorVersion"/>).</summary>
    public uint MinorVersion { get; set; } = 1;

    public IReadOnlyList<NfsOpcode> Opcodes => _opcodes;

    public int Count => _opcodes.Count;

    /// <summary>The encoded operations, without the COMPOUND header.</summary>
    public ReadOnlySpan<byte> EncodedOperations => _ops.WrittenSpan;

    /// <summary>Writes COMPOUND4args: tag, minorversion, argarray.</summary>
    public void WriteTo(XdrWriter w)
    {
        w.WriteString(Tag);
        w.WriteUInt32(MinorVersion);
        w.WriteUInt32((uint)_opcodes.Count);
        w.WriteFixedOpaque(_ops.WrittenSpan);
    }

    /// <summary>Writes COMPOUND4args with a SEQUENCE in front of the operations added here.</summary>
    public void WriteTo(XdrWriter w, in SequenceArgs sequence)
    {
        w.WriteString(Tag);
        w.WriteUInt32(MinorVersion);
        w.WriteUInt32((uint)_opcodes.Count + 1);
        w.WriteUInt32((uint)NfsOpcode.Sequence);
        sequence.Write(w);
        w.WriteFixedOpaque(_ops.WrittenSpan);
    }

    public byte[] ToArray()
    {
        using var w = new XdrWriter();
        WriteTo(w);
        return w.WrittenSpan.ToArray();
    }

    private XdrWriter Op(NfsOpcode op)
    {
        _opcodes.Add(op);
        _ops.WriteUInt32((uint)op);
        return _ops;
    }

    // --- Sessions and clients (RFC 8881 §18.35–§18.51) ---

    public CompoundBuilder ExchangeId(ExchangeIdArgs args)
    {
        var w = Op(NfsOpcode.ExchangeId);
        w.WriteUInt64(args.Verifier);
        w.WriteOpaque(args.OwnerId);
        w.WriteUInt32((uint)args.Flags);
        w.WriteUInt32(0); // state_protect4_a: SP4_NONE
        if (args.ClientImpl is null)
        {
            w.WriteUInt32(0);
        }
        else
        {
            w.WriteUInt32(1);
            args.ClientImpl.Write(w);
        }
        return this;
    }

    public CompoundBuilder CreateSession(CreateSessionArgs args)
    {
        var w = Op(NfsOpcode.CreateSession);
        w.WriteUInt64(args.ClientId);
        w.WriteUInt32(args.SequenceId);
        w.WriteUInt32((uint)args.Flags);
        args.ForeChannel.Write(w);
        args.BackChannel.Write(w);
        w.WriteUInt32(args.CallbackProgram);
        WriteCallbackSecurity(w, args.CallbackSecurity);
        return this;
    }

    /// <summary>
    /// BACKCHANNEL_CTL (RFC 8881 §18.33): callbacks of this session go to <paramref name="callbackProgram"/> with the
    /// first acceptable entry of <paramref name="security"/> from now on.
    /// </summary>
    public CompoundBuilder BackchannelCtl(uint callbackProgram, IReadOnlyList<RpcCredentials> security)
    {
        ArgumentNullException.ThrowIfNull(security);
        var w = Op(NfsOpcode.BackchannelCtl);
        w.WriteUInt32(callbackProgram);
        WriteCallbackSecurity(w, security);
        return this;
    }

    /// <summary>
    /// callback_sec_parms4&lt;&gt;: AUTH_NONE, AUTH_SYS (its authsys_parms) or, for negative tests, RPCSEC_GSS with
    /// service "none" and empty handles (a server without GSS must refuse it).
    /// </summary>
    private static void WriteCallbackSecurity(XdrWriter w, IReadOnlyList<RpcCredentials> security)
    {
        w.WriteUInt32((uint)security.Count);
        foreach (var sec in security)
        {
            w.WriteUInt32((uint)sec.Flavor);
            switch (sec.Flavor)
            {
                case AuthFlavor.None:
                    break;
                case AuthFlavor.Sys:
                    RpcAuth.WriteAuthSysParms(w, sec);
                    break;
                case AuthFlavor.RpcSecGss:
                    w.WriteUInt32(1); // gcbp_service: rpc_gss_svc_none
                    w.WriteUInt32(0); // gcbp_handle_from_server<>
                    w.WriteUInt32(0); // gcbp_handle_from_client<>
                    break;
                default:
                    throw new NotSupportedException($"Callback security flavor {sec.Flavor} is not supported.");
            }
        }
    }

    public CompoundBuilder Sequence(in SequenceArgs args)
    {
        args.Write(Op(NfsOpcode.Sequence));
        return this;
    }

    public CompoundBuilder Sequence(SessionId session, uint slot, uint sequenceId, uint highestSlot = 0, bool cacheThis = false) =>
        Sequence(new SequenceArgs(session, sequenceId, slot, highestSlot, cacheThis));

    public CompoundBuilder DestroySession(SessionId session)
    {
        session.Write(Op(NfsOpcode.DestroySession));
        return this;
    }

    public CompoundBuilder DestroyClientId(ulong clientId)
    {
        Op(NfsOpcode.DestroyClientId).WriteUInt64(clientId);
        return this;
    }

    /// <summary>RECLAIM_COMPLETE; <paramref name="oneFs"/> false means "for every filesystem" (§18.51).</summary>
    public CompoundBuilder ReclaimComplete(bool oneFs = false)
    {
        Op(NfsOpcode.ReclaimComplete).WriteBool(oneFs);
        return this;
    }

    public CompoundBuilder BindConnToSession(SessionId session, ChannelDirFromClient direction, bool useRdma = false)
    {
        var w = Op(NfsOpcode.BindConnToSession);
        session.Write(w);
        w.WriteUInt32((uint)direction);
        w.WriteBool(useRdma);
        return this;
    }

    // --- Filehandles ---

    public CompoundBuilder PutRootFh()
    {
        Op(NfsOpcode.PutRootFh);
        return this;
    }

    public CompoundBuilder PutFh(FileHandle fh)
    {
        fh.Write(Op(NfsOpcode.PutFh));
        return this;
    }

    public CompoundBuilder GetFh()
    {
        Op(NfsOpcode.GetFh);
        return this;
    }

    public CompoundBuilder SaveFh()
    {
        Op(NfsOpcode.SaveFh);
        return this;
    }

    public CompoundBuilder RestoreFh()
    {
        Op(NfsOpcode.RestoreFh);
        return this;
    }

    public CompoundBuilder Lookup(string name)
    {
        Op(NfsOpcode.Lookup).WriteString(name);
        return this;
    }

    /// <summary>LOOKUP of a name given as bytes, sent as they are (a name that need not be UTF-8, or of any length).</summary>
    public CompoundBuilder Lookup(ReadOnlySpan<byte> name)
    {
        Op(NfsOpcode.Lookup).WriteOpaque(name);
        return this;
    }

    /// <summary>One LOOKUP per non-empty component of a slash-separated path.</summary>
    public CompoundBuilder LookupPath(string path)
    {
        foreach (var part in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
            Lookup(part);
        return this;
    }

    public CompoundBuilder LookupP()
    {
        Op(NfsOpcode.LookupP);
        return this;
    }

    // --- Attributes ---

    public CompoundBuilder GetAttr(AttrBitmap attrs)
    {
        attrs.Write(Op(NfsOpcode.GetAttr));
        return this;
    }

    public CompoundBuilder GetAttr(params FileAttr[] attrs) => GetAttr(AttrBitmap.Of(attrs));

    /// <summary>SETATTR; the stateid matters when the size changes (§18.30): an open or lock stateid, or anonymous.</summary>
    public CompoundBuilder SetAttr(SetAttributes attrs, StateId stateId = default)
    {
        var w = Op(NfsOpcode.SetAttr);
        stateId.Write(w);
        attrs.Write(w);
        return this;
    }

    public CompoundBuilder Access(AccessBits access)
    {
        Op(NfsOpcode.Access).WriteUInt32((uint)access);
        return this;
    }

    public CompoundBuilder Verify(SetAttributes attrs)
    {
        attrs.Write(Op(NfsOpcode.Verify));
        return this;
    }

    public CompoundBuilder NVerify(SetAttributes attrs)
    {
        attrs.Write(Op(NfsOpcode.NVerify));
        return this;
    }

    // --- Opens, I/O and locks ---

    /// <summary>OPEN (RFC 8881 §18.16). The seqid is ignored in 4.1 and sent as 0.</summary>
    public CompoundBuilder Open(OpenClaim claim, ShareAccess access, ShareDeny deny, StateOwner owner, OpenHow? how = null, uint seqId = 0)
    {
        var w = Op(NfsOpcode.Open);
        w.WriteUInt32(seqId);
        w.WriteUInt32((uint)access);
        w.WriteUInt32((uint)deny);
        owner.Write(w);
        (how ?? OpenHow.NoCreate).Write(w);
        claim.Write(w);
        return this;
    }

    /// <summary>OPEN by name in the current directory (CLAIM_NULL).</summary>
    public CompoundBuilder Open(string name, ShareAccess access, StateOwner owner, OpenHow? how = null, ShareDeny deny = ShareDeny.None) =>
        Open(OpenClaim.ByName(name), access, deny, owner, how);

    public CompoundBuilder OpenDowngrade(StateId openStateId, ShareAccess access, ShareDeny deny, uint seqId = 0)
    {
        var w = Op(NfsOpcode.OpenDowngrade);
        openStateId.Write(w);
        w.WriteUInt32(seqId);
        w.WriteUInt32((uint)access);
        w.WriteUInt32((uint)deny);
        return this;
    }

    public CompoundBuilder Close(StateId openStateId, uint seqId = 0)
    {
        var w = Op(NfsOpcode.Close);
        w.WriteUInt32(seqId);
        openStateId.Write(w);
        return this;
    }

    public CompoundBuilder Read(StateId stateId, ulong offset, uint count)
    {
        var w = Op(NfsOpcode.Read);
        stateId.Write(w);
        w.WriteUInt64(offset);
        w.WriteUInt32(count);
        return this;
    }

    public CompoundBuilder Write(StateId stateId, ulong offset, ReadOnlySpan<byte> data, StableHow stable = StableHow.FileSync)
    {
        var w = Op(NfsOpcode.Write);
        stateId.Write(w);
        w.WriteUInt64(offset);
        w.WriteUInt32((uint)stable);
        w.WriteOpaque(data);
        return this;
    }

    public CompoundBuilder Commit(ulong offset = 0, uint count = 0)
    {
        var w = Op(NfsOpcode.Commit);
        w.WriteUInt64(offset);
        w.WriteUInt32(count);
        return this;
    }

    public CompoundBuilder Lock(LockType type, ulong offset, ulong length, Locker locker, bool reclaim = false)
    {
        var w = Op(NfsOpcode.Lock);
        w.WriteUInt32((uint)type);
        w.WriteBool(reclaim);
        w.WriteUInt64(offset);
        w.WriteUInt64(length);
        locker.Write(w);
        return this;
    }

    public CompoundBuilder LockT(LockType type, ulong offset, ulong length, StateOwner owner)
    {
        var w = Op(NfsOpcode.LockT);
        w.WriteUInt32((uint)type);
        w.WriteUInt64(offset);
        w.WriteUInt64(length);
        owner.Write(w);
        return this;
    }

    public CompoundBuilder LockU(LockType type, StateId lockStateId, ulong offset, ulong length, uint seqId = 0)
    {
        var w = Op(NfsOpcode.LockU);
        w.WriteUInt32((uint)type);
        w.WriteUInt32(seqId);
        lockStateId.Write(w);
        w.WriteUInt64(offset);
        w.WriteUInt64(length);
        return this;
    }

    public CompoundBuilder TestStateId(params StateId[] stateIds)
    {
        var w = Op(NfsOpcode.TestStateId);
        w.WriteUInt32((uint)stateIds.Length);
        foreach (var s in stateIds)
            s.Write(w);
        return this;
    }

    public CompoundBuilder FreeStateId(StateId stateId)
    {
        stateId.Write(Op(NfsOpcode.FreeStateId));
        return this;
    }

    public CompoundBuilder DelegReturn(StateId delegation)
    {
        delegation.Write(Op(NfsOpcode.DelegReturn));
        return this;
    }

    // --- Namespace ---

    /// <summary>CREATE of a directory (NF4DIR).</summary>
    public CompoundBuilder CreateDirectory(string name, SetAttributes? attrs = null)
    {
        var w = Op(NfsOpcode.Create);
        w.WriteUInt32((uint)NfsFileType.Directory);
        w.WriteString(name);
        (attrs ?? SetAttributes.None).Write(w);
        return this;
    }

    /// <summary>CREATE of a symbolic link (NF4LNK) whose text is <paramref name="target"/>.</summary>
    public CompoundBuilder CreateSymlink(string name, string target, SetAttributes? attrs = null)
    {
        var w = Op(NfsOpcode.Create);
        w.WriteUInt32((uint)NfsFileType.Symlink);
        w.WriteString(target);
        w.WriteString(name);
        (attrs ?? SetAttributes.None).Write(w);
        return this;
    }

    public CompoundBuilder Remove(string name)
    {
        Op(NfsOpcode.Remove).WriteString(name);
        return this;
    }

    /// <summary>REMOVE of a name given as bytes.</summary>
    public CompoundBuilder Remove(ReadOnlySpan<byte> name)
    {
        Op(NfsOpcode.Remove).WriteOpaque(name);
        return this;
    }

    /// <summary>RENAME with both names given as bytes.</summary>
    public CompoundBuilder Rename(ReadOnlySpan<byte> oldName, ReadOnlySpan<byte> newName)
    {
        var w = Op(NfsOpcode.Rename);
        w.WriteOpaque(oldName);
        w.WriteOpaque(newName);
        return this;
    }

    /// <summary>LINK with the new name given as bytes.</summary>
    public CompoundBuilder Link(ReadOnlySpan<byte> newName)
    {
        Op(NfsOpcode.Link).WriteOpaque(newName);
        return this;
    }

    /// <summary>CREATE of a directory (NF4DIR) whose name is given as bytes.</summary>
    public CompoundBuilder CreateDirectory(ReadOnlySpan<byte> name, SetAttributes? attrs = null)
    {
        var w = Op(NfsOpcode.Create);
        w.WriteUInt32((uint)NfsFileType.Directory);
        w.WriteOpaque(name);
        (attrs ?? SetAttributes.None).Write(w);
        return this;
    }

    /// <summary>CREATE of a symbolic link (NF4LNK) with the name and the link text given as bytes.</summary>
    public CompoundBuilder CreateSymlink(ReadOnlySpan<byte> name, ReadOnlySpan<byte> target, SetAttributes? attrs = null)
    {
        var w = Op(NfsOpcode.Create);
        w.WriteUInt32((uint)NfsFileType.Symlink);
        w.WriteOpaque(target);
        w.WriteOpaque(name);
        (attrs ?? SetAttributes.None).Write(w);
        return this;
    }

    /// <summary>SECINFO (§18.29) of a name in the current directory, given as bytes.</summary>
    public CompoundBuilder SecInfo(ReadOnlySpan<byte> name)
    {
        Op(NfsOpcode.SecInfo).WriteOpaque(name);
        return this;
    }

    /// <summary>RENAME from the saved filehandle's directory (<paramref name="oldName"/>) to the current one (<paramref name="newName"/>).</summary>
    public CompoundBuilder Rename(string oldName, string newName)
    {
        var w = Op(NfsOpcode.Rename);
        w.WriteString(oldName);
        w.WriteString(newName);
        return this;
    }

    /// <summary>LINK: the saved filehandle is the file, the current one the directory to put <paramref name="newName"/> in.</summary>
    public CompoundBuilder Link(string newName)
    {
        Op(NfsOpcode.Link).WriteString(newName);
        return this;
    }

    public CompoundBuilder ReadDir(ulong cookie, ulong cookieVerifier, uint dirCount, uint maxCount, AttrBitmap attrs)
    {
        var w = Op(NfsOpcode.ReadDir);
        w.WriteUInt64(cookie);
        w.WriteUInt64(cookieVerifier);
        w.WriteUInt32(dirCount);
        w.WriteUInt32(maxCount);
        attrs.Write(w);
        return this;
    }

    public CompoundBuilder ReadLink()
    {
        Op(NfsOpcode.ReadLink);
        return this;
    }

    public CompoundBuilder SecInfoNoName(SecInfoStyle style = SecInfoStyle.CurrentFh)
    {
        Op(NfsOpcode.SecInfoNoName).WriteUInt32((uint)style);
        return this;
    }

    /// <summary>An opcode this builder does not know, with raw argument bytes: for negative tests.</summary>
    public CompoundBuilder Raw(uint opcode, ReadOnlySpan<byte> args = default)
    {
        _opcodes.Add((NfsOpcode)opcode);
        _ops.WriteUInt32(opcode);
        _ops.WriteFixedOpaque(args);
        return this;
    }

    public void Dispose() => _ops.Dispose();
}
