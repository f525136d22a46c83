using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Client;

/// <summary>The result of one operation of a COMPOUND: its opcode and status. Ops with a body have a derived record.</summary>
public record OpResult(NfsOpcode Op, NfsStat4 Status)
{
    public bool IsOk => Status == NfsStat4.Ok;
}

/// <summary>server_owner4 (RFC 8881 §2.5).</summary>
public sealed record ServerOwner(ulong MinorId, byte[] MajorId);

public sealed record ExchangeIdResult(NfsStat4 Status, ulong ClientId, uint SequenceId, ExchangeIdFlags Flags,
    uint StateProtect, ServerOwner? ServerOwner, byte[] ServerScope, ImplementationId? ServerImpl)
    : OpResult(NfsOpcode.ExchangeId, Status);

public sealed record CreateSessionResult(NfsStat4 Status, SessionId SessionId, uint SequenceId, CreateSessionFlags Flags,
    ChannelAttrs? ForeChannel, ChannelAttrs? BackChannel) : OpResult(NfsOpcode.CreateSession, Status);

/// <summary>SEQUENCE4resok; <see cref="StatusFlags"/> are the SEQ4_STATUS_* bits (§18.46.3).</summary>
public sealed record SequenceResult(NfsStat4 Status, SessionId SessionId, uint SequenceId, uint SlotId, uint HighestSlotId,
    uint TargetHighestSlotId, uint StatusFlags) : OpResult(NfsOpcode.Sequence, Status);

public sealed record BindConnToSessionResult(NfsStat4 Status, SessionId SessionId, ChannelDirFromServer Direction, bool UseRdma)
    : OpResult(NfsOpcode.BindConnToSession, Status);

public sealed record GetFhResult(NfsStat4 Status, FileHandle? FileHandle) : OpResult(NfsOpcode.GetFh, Status);

public sealed record GetAttrResult(NfsStat4 Status, FileAttributes? Attributes) : OpResult(NfsOpcode.GetAttr, Status);

/// <summary>SETATTR's result carries the attributes set even when it fails (§18.30).</summary>
public sealed record SetAttrResult(NfsStat4 Status, AttrBitmap AttrsSet) : OpResult(NfsOpcode.SetAttr, Status);

public sealed record AccessResult(NfsStat4 Status, AccessBits Supported, AccessBits Access) : OpResult(NfsOpcode.Access, Status);

/// <summary>
/// open_delegation4: none, or a read or write delegation with its stateid (§18.16.3; RFC 9754's READ_ATTRS_DELEG and
/// WRITE_ATTRS_DELEG carry the same arms). For OPEN_DELEGATE_NONE_EXT,
/// <see cref="WhyNone"/> is the why_no_delegation4 and <see cref="ServerWillSignal"/> the bool that follows
/// WND4_CONTENTION (ond_server_will_push_deleg) or WND4_RESOURCE (ond_server_will_signal_avail); false otherwise.
/// </summary>
public sealed record Delegation(DelegationType Type, StateId StateId, bool Recall, NfsAce? Permissions, uint WhyNone = 0,
    bool ServerWillSignal = false)
{
    /// <summary>A write delegation's nfs_space_limit4 in bytes (NFS_LIMIT_SIZE, or NFS_LIMIT_BLOCKS multiplied out); null otherwise.</summary>
    public ulong? SpaceLimit { get; init; }

    public static Delegation None { get; } = new(DelegationType.None, default, false, null);

    /// <summary>Whether this is a write delegation (OPEN_DELEGATE_WRITE or WRITE_ATTRS_DELEG).</summary>
    public bool IsWrite => Type is DelegationType.Write or DelegationType.WriteAttrsDeleg;

    /// <summary>Whether a delegation was granted at all (read or write, with or without delegated timestamps).</summary>
    public bool IsGranted => Type is DelegationType.Read or DelegationType.Write or DelegationType.ReadAttrsDeleg or DelegationType.WriteAttrsDeleg;

    public static Delegation Read(ref XdrReader r)
    {
        var type = (DelegationType)r.ReadUInt32();
        switch (type)
        {
            case DelegationType.None:
                return None;
            case DelegationType.Read or DelegationType.ReadAttrsDeleg:
            {
                var stateId = StateId.Read(ref r);
                bool recall = r.ReadBool();
                return new Delegation(type, stateId, recall, NfsAce.Read(ref r));
            }
            case DelegationType.Write or DelegationType.WriteAttrsDeleg:
            {
                var stateId = StateId.Read(ref r);
                bool recall = r.ReadBool();
                uint limitBy = r.ReadUInt32(); // nfs_space_limit4
                ulong limit = 0;
                if (limitBy == 1)
                    limit = r.ReadUInt64(); // NFS_LIMIT_SIZE: filesize
                else if (limitBy == 2)
                    limit = (ulong)r.ReadUInt32() * r.ReadUInt32(); // NFS_LIMIT_BLOCKS: num_blocks, bytes_per_block
                else
                    XdrException.Throw($"nfs_space_limit4 has discriminant {limitBy}.");
                return new Delegation(type, stateId, recall, NfsAce.Read(ref r)) { SpaceLimit = limit };
            }
            case DelegationType.NoneExt:
            {
                uint why = r.ReadUInt32();
                // open_none_delegation4 (RFC 8881 §18.16.2): only WND4_CONTENTION (1) and WND4_RESOURCE (2) carry a bool.
                bool willSignal = why is 1 or 2 && r.ReadBool();
                return new Delegation(type, default, false, null, why, willSignal);
            }
            default:
                XdrException.Throw($"open_delegation_type4 {(uint)type} is unknown.");
                return None;
        }
    }
}

/// <summary>OPEN4resok; <see cref="ResultFlags"/> are the OPEN4_RESULT_* bits.</summary>
public sealed record OpenResult(NfsStat4 Status, StateId StateId, ChangeInfo ChangeInfo, uint ResultFlags, AttrBitmap? AttrSet,
    Delegation? Delegation) : OpResult(NfsOpcode.Open, Status);

/// <summary>The result of CLOSE, OPEN_DOWNGRADE or LOCKU: a new stateid on success.</summary>
public sealed record StateIdResult(NfsOpcode Operation, NfsStat4 Status, StateId StateId) : OpResult(Operation, Status);

public sealed record ReadResult(NfsStat4 Status, bool Eof, ReadOnlyMemory<byte> Data) : OpResult(NfsOpcode.Read, Status);

public sealed record WriteResult(NfsStat4 Status, uint Count, StableHow Committed, ulong Verifier) : OpResult(NfsOpcode.Write, Status);

public sealed record CommitResult(NfsStat4 Status, ulong Verifier) : OpResult(NfsOpcode.Commit, Status);

public sealed record CreateResult(NfsStat4 Status, ChangeInfo ChangeInfo, AttrBitmap? AttrSet) : OpResult(NfsOpcode.Create, Status);

/// <summary>REMOVE or LINK: the directory's change_info4.</summary>
public sealed record ChangeInfoResult(NfsOpcode Operation, NfsStat4 Status, ChangeInfo ChangeInfo) : OpResult(Operation, Status);

public sealed record RenameResult(NfsStat4 Status, ChangeInfo Source, ChangeInfo Target) : OpResult(NfsOpcode.Rename, Status);

/// <summary>One READDIR entry: <see cref="Name"/> is the name decoded as UTF-8 (for display), <see cref="RawName"/> its exact bytes.</summary>
public sealed record DirectoryEntry(ulong Cookie, string Name, FileAttributes Attributes)
{
    public byte[] RawName { get; init; } = System.Text.Encoding.UTF8.GetBytes(Name);
}

public sealed record ReadDirResult(NfsStat4 Status, ulong CookieVerifier, IReadOnlyList<DirectoryEntry> Entries, bool Eof)
    : OpResult(NfsOpcode.ReadDir, Status);

/// <summary>READLINK: the link text decoded as UTF-8, and <see cref="RawTarget"/>, its exact bytes.</summary>
public sealed record ReadLinkResult(NfsStat4 Status, string? Target) : OpResult(NfsOpcode.ReadLink, Status)
{
    public byte[]? RawTarget { get; init; }
}

/// <summary>LOCK4denied (§18.10): who holds the conflicting lock.</summary>
public sealed record LockDenied(ulong Offset, ulong Length, LockType Type, StateOwner Owner)
{
    public static LockDenied Read(ref XdrReader r) => new(r.ReadUInt64(), r.ReadUInt64(), (LockType)r.ReadUInt32(), StateOwner.Read(ref r));
}

/// <summary>LOCK: the lock stateid when granted, the conflict when NFS4ERR_DENIED.</summary>
public sealed record LockResult(NfsStat4 Status, StateId StateId, LockDenied? Denied) : OpResult(NfsOpcode.Lock, Status);

/// <summary>LOCKT: nothing when no conflict, the conflict when NFS4ERR_DENIED.</summary>
public sealed record LockTResult(NfsStat4 Status, LockDenied? Denied) : OpResult(NfsOpcode.LockT, Status);

public sealed record TestStateIdResult(NfsStat4 Status, IReadOnlyList<NfsStat4> StatusCodes) : OpResult(NfsOpcode.TestStateId, Status);

/// <summary>secinfo4: a flavor, and for RPCSEC_GSS its mechanism, QOP and service.</summary>
public sealed record SecInfo(uint Flavor, byte[]? Oid = null, uint Qop = 0, uint Service = 0);

public sealed record SecInfoResult(NfsStat4 Status, IReadOnlyList<SecInfo> Flavors) : OpResult(NfsOpcode.SecInfoNoName, Status);
