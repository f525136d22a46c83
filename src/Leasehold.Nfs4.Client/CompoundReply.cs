using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Client;

/// <summary>
/// A decoded COMPOUND4res (RFC 8881 §16.2.3): the overall status, the tag, and one typed result per operation the
/// server ran. The server stops at the first operation that fails, so the last result is the failed one when
/// <see cref="Status"/> is not OK, and operations after it have no result at all.
/// </summary>
public sealed partial class CompoundReply
{
    private readonly List<OpResult> _results;

    private CompoundReply(NfsStat4 status, string tag, List<OpResult> results)
    {
        Status = status;
        Tag = tag;
        _results = results;
    }

    public NfsStat4 Status { get; }

    public string Tag { get; }

    public IReadOnlyList<OpResult> Results => _results;

    public bool IsOk => Status == NfsStat4.Ok;

    /// <summary>The operation that failed (the last result), or null when all succeeded.</summary>
    public OpResult? Failed => IsOk || _results.Count == 0 ? null : _results[^1];

    /// <summary>The first result of type <typeparamref name="T"/>, or null.</summary>
    public T? Find<T>() where T : OpResult
    {
        foreach (var r in _results)
        {
            if (r is T t)
                return t;
        }
        return null;
    }

    /// <summary>The first result of type <typeparamref name="T"/>; throws if the server did not get that far.</summary>
    public T Get<T>() where T : OpResult =>
        Find<T>() ?? throw new InvalidOperationException($"The reply has no {typeof(T).Name} (status {Status}, {_results.Count} results).");

    /// <summary>Every result of type <typeparamref name="T"/>, in order.</summary>
    public IEnumerable<T> All<T>() where T : OpResult => _results.OfType<T>();

    /// <summary>The results of <paramref name="op"/>, for status-only operations (PUTFH, LOOKUP, CLOSE…).</summary>
    public OpResult? Find(NfsOpcode op) => _results.Find(r => r.Op == op);

    public override string ToString() =>
        $"{Status} [{string.Join(' ', _results.Select(r => r.IsOk ? r.Op.ToString() : $"{r.Op}:{r.Status}"))}]";

    public static CompoundReply Decode(ReadOnlySpan<byte> data)
    {
        var r = new XdrReader(data);
        return Decode(ref r);
    }

    public static CompoundReply Decode(ref XdrReader r)
    {
        var status = (NfsStat4)r.ReadUInt32();
        string tag = r.ReadString(XdrLimits.MaxString);
        int count = r.ReadArrayCount(XdrLimits.MaxArray, 8);
        var results = new List<OpResult>(count);
        for (int i = 0; i < count; i++)
        {
            var result = DecodeOne(ref r);
            results.Add(result);
            if (!result.IsOk)
                break; // §16.2.3: evaluation stops at the first failure; nothing follows it
        }
        return new CompoundReply(status, tag, results);
    }

    private static OpResult DecodeOne(ref XdrReader r)
    {
        var op = (NfsOpcode)r.ReadUInt32();
        var status = (NfsStat4)r.ReadUInt32();
        bool ok = status == NfsStat4.Ok;
        if (op is >= NfsOpcode.Allocate and <= NfsOpcode.RemoveXattr)
            return DecodeMinor2(op, status, ref r);

        // Results with a body even when the op failed.
        switch (op)
        {
            case NfsOpcode.SetAttr:
                return new SetAttrResult(status, AttrBitmap.Read(ref r));
            case NfsOpcode.Lock:
                if (ok)
                    return new LockResult(status, StateId.Read(ref r), null);
                return new LockResult(status, default, status == NfsStat4.Denied ? LockDenied.Read(ref r) : null);
            case NfsOpcode.LockT:
                return new LockTResult(status, status == NfsStat4.Denied ? LockDenied.Read(ref r) : null);
        }

        if (!ok)
            return op switch
            {
                NfsOpcode.GetAttr => new GetAttrResult(status, null),
                NfsOpcode.GetFh => new GetFhResult(status, null),
                NfsOpcode.Read => new ReadResult(status, false, ReadOnlyMemory<byte>.Empty),
                _ => new OpResult(op, status),
            };

        switch (op)
        {
            case NfsOpcode.ExchangeId:
                return DecodeExchangeId(ref r);
            case NfsOpcode.CreateSession:
                return new CreateSessionResult(status, SessionId.Read(ref r), r.ReadUInt32(), (CreateSessionFlags)r.ReadUInt32(),
                    ChannelAttrs.Read(ref r), ChannelAttrs.Read(ref r));
            case NfsOpcode.Sequence:
                return new SequenceResult(status, SessionId.Read(ref r), r.ReadUInt32(), r.ReadUInt32(), r.ReadUInt32(),
                    r.ReadUInt32(), r.ReadUInt32());
            case NfsOpcode.BindConnToSession:
                return new BindConnToSessionResult(status, SessionId.Read(ref r), (ChannelDirFromServer)r.ReadUInt32(), r.ReadBool());
            case NfsOpcode.GetFh:
                return new GetFhResult(status, FileHandle.Read(ref r));
            case NfsOpcode.GetAttr:
                return new GetAttrResult(status, FileAttributes.Read(ref r));
            case NfsOpcode.Access:
                return new AccessResult(status, (AccessBits)r.ReadUInt32(), (AccessBits)r.ReadUInt32());
            case NfsOpcode.Open:
                return new OpenResult(status, StateId.Read(ref r), ChangeInfo.Read(ref r), r.ReadUInt32(), AttrBitmap.Read(ref r),
                    Delegation.Read(ref r));
            case NfsOpcode.Close or NfsOpcode.OpenDowngrade or NfsOpcode.LockU:
                return new StateIdResult(op, status, StateId.Read(ref r));
            case NfsOpcode.Read:
            {
                bool eof = r.ReadBool();
                var data = r.ReadOpaque(XdrLimits.MaxData).ToArray();
                return new ReadResult(status, eof, data);
            }
            case NfsOpcode.Write:
                return new WriteResult(status, r.ReadUInt32(), (StableHow)r.ReadUInt32(), r.ReadUInt64());
            case NfsOpcode.Commit:
                return new CommitResult(status, r.ReadUInt64());
            case NfsOpcode.Create:
                return new CreateResult(status, ChangeInfo.Read(ref r), AttrBitmap.Read(ref r));
            case NfsOpcode.Remove or NfsOpcode.Link:
                return new ChangeInfoResult(op, status, ChangeInfo.Read(ref r));
            case NfsOpcode.Rename:
                return new RenameResult(status, ChangeInfo.Read(ref r), ChangeInfo.Read(ref r));
            case NfsOpcode.ReadDir:
                return DecodeReadDir(ref r);
            case NfsOpcode.ReadLink:
            {
                byte[] target = r.ReadOpaque(XdrLimits.MaxString).ToArray();
                return new ReadLinkResult(status, System.Text.Encoding.UTF8.GetString(target)) { RawTarget = target };
            }
            case NfsOpcode.TestStateId:
            {
                int n = r.ReadArrayCount(XdrLimits.MaxArray);
                var codes = new NfsStat4[n];
                for (int i = 0; i < n; i++)
                    codes[i] = (NfsStat4)r.ReadUInt32();
                return new TestStateIdResult(status, codes);
            }
            case NfsOpcode.SecInfoNoName or NfsOpcode.SecInfo:
                return DecodeSecInfo(ref r);
            case NfsOpcode.PutRootFh or NfsOpcode.PutFh or NfsOpcode.PutPubFh or NfsOpcode.SaveFh or NfsOpcode.RestoreFh
                or NfsOpcode.Lookup or NfsOpcode.LookupP or NfsOpcode.DestroySession or NfsOpcode.DestroyClientId
                or NfsOpcode.ReclaimComplete or NfsOpcode.FreeStateId or NfsOpcode.DelegReturn or NfsOpcode.DelegPurge
                or NfsOpcode.Verify or NfsOpcode.NVerify or NfsOpcode.OpenAttr or NfsOpcode.ReleaseLockOwner
                or NfsOpcode.BackchannelCtl or NfsOpcode.Illegal:
                return new OpResult(op, status);
            default:
                XdrException.Throw($"The reply has a successful {op} ({(uint)op}), whose result this client cannot decode.");
                return null!;
        }
    }

    private static ExchangeIdResult DecodeExchangeId(ref XdrReader r)
    {
        ulong clientId = r.ReadUInt64();
        uint sequenceId = r.ReadUInt32();
        var flags = (ExchangeIdFlags)r.ReadUInt32();
        uint protect = r.ReadUInt32();
        if (protect == 1) // SP4_MACH_CRED: spo_must_enforce, spo_must_allow
        {
            AttrBitmap.Read(ref r);
            AttrBitmap.Read(ref r);
        }
        else if (protect != 0)
        {
            XdrException.Throw($"state_protect_how4 {protect} (SP4_SSV) is not supported by this client.");
        }
        var owner = new ServerOwner(r.ReadUInt64(), r.ReadOpaque(XdrLimits.OpaqueLimit).ToArray());
        byte[] scope = r.ReadOpaque(XdrLimits.OpaqueLimit).ToArray();
        int impls = r.ReadArrayCount(1);
        ImplementationId? impl = impls == 1 ? ImplementationId.Read(ref r) : null;
        return new ExchangeIdResult(NfsStat4.Ok, clientId, sequenceId, flags, protect, owner, scope, impl);
    }

    private static ReadDirResult DecodeReadDir(ref XdrReader r)
    {
        ulong verifier = r.ReadUInt64();
        var entries = new List<DirectoryEntry>();
        // dirlist4.entries is an XDR optional-data list (§4.19 of RFC 4506): a bool before each entry.
        while (r.ReadBool())
        {
            if (entries.Count >= XdrLimits.MaxArray)
                XdrException.ThrowTooLong((uint)entries.Count, XdrLimits.MaxArray);
            ulong cookie = r.ReadUInt64();
            byte[] name = r.ReadOpaque(XdrLimits.MaxString).ToArray();
            entries.Add(new DirectoryEntry(cookie, System.Text.Encoding.UTF8.GetString(name), FileAttributes.Read(ref r)) { RawName = name });
        }
        bool eof = r.ReadBool();
        return new ReadDirResult(NfsStat4.Ok, verifier, entries, eof);
    }

    private static SecInfoResult DecodeSecInfo(ref XdrReader r)
    {
        int n = r.ReadArrayCount(XdrLimits.MaxArray);
        var list = new List<SecInfo>(n);
        for (int i = 0; i < n; i++)
        {
            uint flavor = r.ReadUInt32();
            if (flavor == 6) // RPCSEC_GSS: rpcsec_gss_info
                list.Add(new SecInfo(flavor, r.ReadOpaque(XdrLimits.OpaqueLimit).ToArray(), r.ReadUInt32(), r.ReadUInt32()));
            else
                list.Add(new SecInfo(flavor));
        }
        return new SecInfoResult(NfsStat4.Ok, list);
    }
}
