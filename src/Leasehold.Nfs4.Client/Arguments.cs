using Leasehold.Rpc.Messages;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Client;

/// <summary>open_owner4 / lock_owner4 (RFC 8881 §3.3.14): a client id and the client's opaque name for the owner.</summary>
public sealed record StateOwner(ulong ClientId, byte[] Owner)
{
    public void Write(XdrWriter w)
    {
        w.WriteUInt64(ClientId);
        w.WriteOpaque(Owner);
    }

    public static StateOwner Read(ref XdrReader r) => new(r.ReadUInt64(), r.ReadOpaque(XdrLimits.OpaqueLimit).ToArray());
}

/// <summary>openflag4 (RFC 8881 §18.16.1): open an existing file, or create one the given way.</summary>
public sealed record OpenHow(bool Create, CreateMode Mode, SetAttributes Attributes, ulong Verifier)
{
    /// <summary>OPEN4_NOCREATE.</summary>
    public static OpenHow NoCreate { get; } = new(false, CreateMode.Unchecked, SetAttributes.None, 0);

    /// <summary>OPEN4_CREATE with UNCHECKED4: create if absent, else open (and apply a size in the attributes).</summary>
    public static OpenHow Unchecked(SetAttributes? attrs = null) => new(true, CreateMode.Unchecked, attrs ?? SetAttributes.None, 0);

    /// <summary>OPEN4_CREATE with GUARDED4: NFS4ERR_EXIST if the name is taken.</summary>
    public static OpenHow Guarded(SetAttributes? attrs = null) => new(true, CreateMode.Guarded, attrs ?? SetAttributes.None, 0);

    /// <summary>OPEN4_CREATE with EXCLUSIVE4 (the NFSv4.0 form): exactly-once creation keyed by <paramref name="verifier"/>, no attributes.</summary>
    public static OpenHow Exclusive(ulong verifier) => new(true, CreateMode.Exclusive, SetAttributes.None, verifier);

    /// <summary>OPEN4_CREATE with EXCLUSIVE4_1: exactly-once creation keyed by <paramref name="verifier"/>.</summary>
    public static OpenHow Exclusive41(ulong verifier, SetAttributes? attrs = null) =>
        new(true, CreateMode.Exclusive41, attrs ?? SetAttributes.None, verifier);

    public void Write(XdrWriter w)
    {
        w.WriteBool(Create);
        if (!Create)
            return;
        w.WriteUInt32((uint)Mode);
        switch (Mode)
        {
            case CreateMode.Unchecked or CreateMode.Guarded:
                Attributes.Write(w);
                break;
            case CreateMode.Exclusive:
                w.WriteUInt64(Verifier);
                break;
            case CreateMode.Exclusive41:
                w.WriteUInt64(Verifier);
                Attributes.Write(w);
                break;
        }
    }
}

/// <summary>open_claim_type4 (RFC 8881 §18.16.1).</summary>
public enum OpenClaimType : uint
{
    Null = 0,
    Previous = 1,
    DelegateCur = 2,
    DelegatePrev = 3,
    Fh = 4,
    DelegCurFh = 5,
    DelegPrevFh = 6,
}

/// <summary>open_claim4: what the OPEN names — a name in the current directory, or the current filehandle itself.</summary>
public sealed record OpenClaim(OpenClaimType Type, string? Name = null, StateId DelegationStateId = default,
    DelegationType PreviousDelegation = DelegationType.None)
{
    /// <summary>The name as bytes, sent as they are (any charset); when set it is sent instead of <see cref="Name"/>.</summary>
    public byte[]? RawName { get; init; }

    /// <summary>CLAIM_NULL: <paramref name="name"/> in the directory that is the current filehandle.</summary>
    public static OpenClaim ByName(string name) => new(OpenClaimType.Null, name);

    /// <summary>CLAIM_NULL by a name given as bytes (a name that need not be UTF-8).</summary>
    public static OpenClaim ByName(byte[] name) => new(OpenClaimType.Null) { RawName = name };

    /// <summary>CLAIM_FH: the current filehandle is the file.</summary>
    public static OpenClaim Fh { get; } = new(OpenClaimType.Fh);

    /// <summary>CLAIM_DELEG_CUR_FH: open under a delegation this client holds.</summary>
    public static OpenClaim DelegCurFh(StateId delegation) => new(OpenClaimType.DelegCurFh, DelegationStateId: delegation);

    /// <summary>CLAIM_DELEGATE_CUR: open <paramref name="name"/> (in the current directory) under a delegation this client holds.</summary>
    public static OpenClaim DelegateCur(StateId delegation, string name) => new(OpenClaimType.DelegateCur, name, delegation);

    /// <summary>CLAIM_PREVIOUS: reclaim after a server restart.</summary>
    public static OpenClaim Previous(DelegationType delegation) => new(OpenClaimType.Previous, PreviousDelegation: delegation);

    public void Write(XdrWriter w)
    {
        w.WriteUInt32((uint)Type);
        switch (Type)
        {
            case OpenClaimType.Null or OpenClaimType.DelegatePrev:
                WriteName(w);
                break;
            case OpenClaimType.Previous:
                w.WriteUInt32((uint)PreviousDelegation);
                break;
            case OpenClaimType.DelegateCur:
                DelegationStateId.Write(w);
                WriteName(w);
                break;
            case OpenClaimType.DelegCurFh:
                DelegationStateId.Write(w);
                break;
            case OpenClaimType.Fh or OpenClaimType.DelegPrevFh:
                break;
        }
    }

    private void WriteName(XdrWriter w)
    {
        if (RawName is not null)
            w.WriteOpaque(RawName);
        else
            w.WriteString(Name ?? throw new InvalidOperationException($"{Type} needs a name."));
    }
}

/// <summary>locker4 (RFC 8881 §18.10): a first lock for a new lock-owner (from an open), or one more for an existing lock stateid.</summary>
public sealed record Locker(bool NewLockOwner, StateId StateId, StateOwner? Owner, uint OpenSeqId = 0, uint LockSeqId = 0)
{
    /// <summary>open_to_lock_owner4. In 4.1 the seqids are ignored and sent as 0 (§8.13).</summary>
    public static Locker FromOpen(StateId openStateId, StateOwner lockOwner) => new(true, openStateId, lockOwner);

    /// <summary>exist_lock_owner4.</summary>
    public static Locker Existing(StateId lockStateId) => new(false, lockStateId, null);

    public void Write(XdrWriter w)
    {
        w.WriteBool(NewLockOwner);
        if (NewLockOwner)
        {
            w.WriteUInt32(OpenSeqId);
            StateId.Write(w);
            w.WriteUInt32(LockSeqId);
            (Owner ?? throw new InvalidOperationException("A new lock owner needs an owner.")).Write(w);
        }
        else
        {
            StateId.Write(w);
            w.WriteUInt32(LockSeqId);
        }
    }
}

/// <summary>nfs_impl_id4 (RFC 8881 §3.3.21): who wrote the client or server, for logs.</summary>
public sealed record ImplementationId(string Domain, string Name, NfsTime Date)
{
    public static ImplementationId Read(ref XdrReader r) =>
        new(r.ReadString(XdrLimits.OpaqueLimit), r.ReadString(XdrLimits.OpaqueLimit), NfsTime.Read(ref r));

    public void Write(XdrWriter w)
    {
        w.WriteString(Domain);
        w.WriteString(Name);
        Date.Write(w);
    }
}

/// <summary>The arguments of EXCHANGE_ID (RFC 8881 §18.35) with SP4_NONE state protection.</summary>
public sealed record ExchangeIdArgs(ulong Verifier, byte[] OwnerId, ExchangeIdFlags Flags, ImplementationId? ClientImpl = null);

/// <summary>The arguments of CREATE_SESSION (RFC 8881 §18.36). Callback security is AUTH_NONE or AUTH_SYS.</summary>
public sealed record CreateSessionArgs(ulong ClientId, uint SequenceId, CreateSessionFlags Flags, ChannelAttrs ForeChannel,
    ChannelAttrs BackChannel, uint CallbackProgram, IReadOnlyList<RpcCredentials> CallbackSecurity);

/// <summary>The arguments of SEQUENCE (RFC 8881 §18.46).</summary>
public readonly record struct SequenceArgs(SessionId SessionId, uint SequenceId, uint SlotId, uint HighestSlotId, bool CacheThis)
{
    public void Write(XdrWriter w)
    {
        SessionId.Write(w);
        w.WriteUInt32(SequenceId);
        w.WriteUInt32(SlotId);
        w.WriteUInt32(HighestSlotId);
        w.WriteBool(CacheThis);
    }
}
