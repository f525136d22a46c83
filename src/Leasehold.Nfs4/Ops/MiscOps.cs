using Leasehold.Export;
using Leasehold.Nfs4.Attributes;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

internal sealed record SetAttrArgs(StateId StateId, uint[] Mask, byte[] Values);

/// <summary>SETATTR, RFC 8881 §18.30: the attrsset bitmap is part of the reply whatever the status.</summary>
internal sealed class SetAttrOp : INfsOp<SetAttrArgs, uint[]>
{
    public static readonly SetAttrOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.SetAttr;

    public static SetAttrArgs Decode(ref XdrReader r) => new(StateId.Read(ref r), Wire.ReadBitmap(ref r), r.ReadOpaque(int.MaxValue).ToArray());

    public async ValueTask<OpResult<uint[]>> ExecuteAsync(CompoundContext ctx, SetAttrArgs args, CancellationToken cancellationToken)
    {
        if (!ctx.TryGetCurrentFh(out var fh, out var status))
            return status;
        status = FattrDecoder.Read(args.Mask, args.Values, out var changes);
        if (status != NfsStat4.Ok)
            return status;
        // A size change writes the range it truncates or adds (§9.1.2): share reservations and the open's access apply.
        status = IoStateIds.Check(ctx, args.StateId, fh, changes.Size is null ? Share.None : Share.Write, out var io);
        if (status != NfsStat4.Ok)
            return status;
        using var unreserved = io;
        if (changes.IsEmpty)
            return OpResult<uint[]>.Ok([]);
        var done = await ctx.Tree.SetAttributesAsync(ctx.Caller, fh, changes, ctx.ChangeContext, cancellationToken).ConfigureAwait(false);
        if (!done.IsOk)
            return done.Status == FsStatus.IsDirectory && changes.Size is not null ? NfsStat4.IsDir : done.Status.ToNfs();
        return OpResult<uint[]>.Ok(args.Mask);
    }

    public static void Encode(in OpResult<uint[]> result, XdrWriter w) => Wire.WriteBitmap(w, result.Value ?? []);
}

internal sealed record ReadDirArgs(ulong Cookie, ulong Verifier, uint DirCount, uint MaxCount, uint[] Requested);

internal sealed record ReadDirResult(ulong Verifier, byte[] Entries, bool Eof);

/// <summary>
/// READDIR, RFC 8881 §18.23. Cookies come from the tree and stay valid across calls; the cookie verifier is constant
/// for the life of the server, so a cookie from before a restart is refused (NOT_SAME) rather than misread.
/// </summary>
internal sealed class ReadDirOp : INfsOp<ReadDirArgs, ReadDirResult>
{
    public static readonly ReadDirOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.ReadDir;

    public static ReadDirArgs Decode(ref XdrReader r) =>
        new(r.ReadUInt64(), Wire.ReadVerifier(ref r), r.ReadUInt32(), r.ReadUInt32(), Wire.ReadBitmap(ref r));

    public ValueTask<OpResult<ReadDirResult>> ExecuteAsync(CompoundContext ctx, ReadDirArgs args, CancellationToken cancellationToken)
    {
        var status = Directories.RequireDirectory(ctx, ctx.CurrentFh, NfsStat4.NoFileHandle, out var dir, out _);
        if (status != NfsStat4.Ok)
            return Done(status);
        if (args.Cookie is 1 or 2)
            return Done(NfsStat4.BadCookie);
        ulong verifier = ctx.Server.BootVerifier;
        if (args.Cookie != 0 && args.Verifier != verifier)
            return Done(NfsStat4.NotSame);
        if (Attr.IsSet(args.Requested, Attr.TimeAccessSet) || Attr.IsSet(args.Requested, Attr.TimeModifySet))
            return Done(NfsStat4.Inval);

        // The reply must fit maxcount: its fixed parts take 16 bytes (verifier, end-of-list marker, eof).
        int budget = (int)Math.Min(args.MaxCount, (uint)ctx.Server.Options.MaxReadWriteSize) - 16;
        int maxEntries = Math.Clamp(budget / 32, 1, 4096);
        var listed = ctx.Tree.ReadDirectory(ctx.Caller, dir, args.Cookie, maxEntries);
        if (!listed.IsOk)
            return Done(listed.Status == FsStatus.Invalid ? NfsStat4.BadCookie : listed.Status.ToNfs());

        using var w = new XdrWriter(4096);
        var (entries, end) = listed.Value;
        int written = 0;
        foreach (var e in entries)
        {
            int mark = w.Position;
            w.WriteBool(true);
            w.WriteUInt64(e.Cookie);
            w.WriteOpaque(e.Name.Bytes); // the stored bytes: LOOKUP of them finds this entry
            FattrEncoder.Write(w, args.Requested, e.Attributes, e.Handle, ctx.Server.Fattr, () => null);
            if (w.Position > budget)
            {
                w.Truncate(mark);
                end = false;
                break;
            }
            written++;
        }
        if (written == 0 && entries.Count > 0)
            return Done(NfsStat4.TooSmall);
        return ValueTask.FromResult(OpResult<ReadDirResult>.Ok(new ReadDirResult(verifier, w.WrittenSpan.ToArray(), end && written == entries.Count)));
    }

    private static ValueTask<OpResult<ReadDirResult>> Done(NfsStat4 status) => ValueTask.FromResult<OpResult<ReadDirResult>>(status);

    public static void Encode(in OpResult<ReadDirResult> result, XdrWriter w)
    {
        if (result.Value is not { } v)
            return;
        w.WriteUInt64(v.Verifier);
        v.Entries.CopyTo(w.GetSpan(v.Entries.Length));
        w.Advance(v.Entries.Length);
        w.WriteBool(false); // no more entries in this reply
        w.WriteBool(v.Eof);
    }
}

/// <summary>SECINFO_NO_NAME, RFC 8881 §18.45, and SECINFO, §18.29: AUTH_SYS and AUTH_NONE. Both consume the current filehandle.</summary>
internal static class SecInfo
{
    public static void WriteFlavors(XdrWriter w)
    {
        w.WriteUInt32(2);
        w.WriteUInt32(1); // AUTH_SYS
        w.WriteUInt32(0); // AUTH_NONE
    }
}

internal sealed class SecInfoNoNameOp : INfsOp<uint, Unit>
{
    public static readonly SecInfoNoNameOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.SecInfoNoName;

    public static uint Decode(ref XdrReader r) => r.ReadUInt32();

    public ValueTask<OpResult<Unit>> ExecuteAsync(CompoundContext ctx, uint style, CancellationToken cancellationToken)
    {
        if (!ctx.TryGetCurrentFh(out var fh, out var status))
            return ValueTask.FromResult<OpResult<Unit>>(status);
        if (style > 1)
            return ValueTask.FromResult<OpResult<Unit>>(NfsStat4.Inval);
        if (style == 1)
        {
            var attrs = ctx.Tree.GetAttributes(fh);
            if (!attrs.IsOk)
                return ValueTask.FromResult<OpResult<Unit>>(attrs.Status.ToNfs());
            if (attrs.Value.Type != FileType.Directory)
                return ValueTask.FromResult<OpResult<Unit>>(NfsStat4.NotDir);
            var parent = ctx.Tree.LookupParent(ctx.Caller, fh);
            if (!parent.IsOk)
                return ValueTask.FromResult<OpResult<Unit>>(parent.Status.ToNfs());
        }
        ctx.CurrentFh = null; // §2.6.3.1.1.8: SECINFO_NO_NAME consumes the current filehandle
        return ValueTask.FromResult(OpResult<Unit>.Ok(default));
    }

    public static void Encode(in OpResult<Unit> result, XdrWriter w)
    {
        if (result.IsOk)
            SecInfo.WriteFlavors(w);
    }
}

internal sealed class SecInfoOp : INfsOp<byte[], Unit>
{
    public static readonly SecInfoOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.SecInfo;

    public static byte[] Decode(ref XdrReader r) => Names.ReadComponent(ref r);

    public ValueTask<OpResult<Unit>> ExecuteAsync(CompoundContext ctx, byte[] raw, CancellationToken cancellationToken)
    {
        var status = Directories.RequireDirectory(ctx, ctx.CurrentFh, NfsStat4.NoFileHandle, out var dir, out _);
        if (status != NfsStat4.Ok)
            return ValueTask.FromResult<OpResult<Unit>>(status);
        status = Names.Validate(raw, out var name);
        if (status != NfsStat4.Ok)
            return ValueTask.FromResult<OpResult<Unit>>(status);
        var found = ctx.Tree.Lookup(ctx.Caller, dir, name);
        if (!found.IsOk)
            return ValueTask.FromResult<OpResult<Unit>>(found.Status.ToNfs());
        ctx.CurrentFh = null; // SECINFO consumes the current filehandle too
        return ValueTask.FromResult(OpResult<Unit>.Ok(default));
    }

    public static void Encode(in OpResult<Unit> result, XdrWriter w)
    {
        if (result.IsOk)
            SecInfo.WriteFlavors(w);
    }
}

/// <summary>VERIFY (§18.31) and NVERIFY (§18.15): compare attribute values with the file's; SAME / NOT_SAME.</summary>
internal abstract class VerifyBase
{
    protected static NfsStat4 Compare(CompoundContext ctx, (uint[] Mask, byte[] Values) args, out bool same)
    {
        same = false;
        if (!ctx.TryGetCurrentFh(out var fh, out var status))
            return status;
        for (int attr = 0; attr < args.Mask.Length * 32; attr++)
        {
            if (!Attr.IsSet(args.Mask, attr))
                continue;
            if (!Attr.IsSet(Attr.Supported, attr))
                return NfsStat4.AttrNotSupp;
            if (attr is Attr.RdattrError or Attr.TimeAccessSet or Attr.TimeModifySet)
                return NfsStat4.Inval;
        }
        var attrs = ctx.Tree.GetAttributes(fh);
        if (!attrs.IsOk)
            return attrs.Status.ToNfs();
        var tree = ctx.Tree;
        var ours = FattrEncoder.Values(args.Mask, attrs.Value, fh, ctx.Server.Fattr, () => tree.GetFileSystemStats(fh) is { IsOk: true } s ? s.Value : null);
        same = ours.AsSpan().SequenceEqual(args.Values);
        return NfsStat4.Ok;
    }

    public static (uint[] Mask, byte[] Values) Decode(ref XdrReader r) => (Wire.ReadBitmap(ref r), r.ReadOpaque(int.MaxValue).ToArray());

    public static void Encode(in OpResult<Unit> result, XdrWriter w)
    {
    }
}

internal sealed class VerifyOp : VerifyBase, INfsOp<(uint[] Mask, byte[] Values), Unit>
{
    public static readonly VerifyOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.Verify;

    public ValueTask<OpResult<Unit>> ExecuteAsync(CompoundContext ctx, (uint[] Mask, byte[] Values) args, CancellationToken cancellationToken)
    {
        var status = Compare(ctx, args, out bool same);
        if (status == NfsStat4.Ok && !same)
            status = NfsStat4.NotSame;
        return ValueTask.FromResult(status == NfsStat4.Ok ? OpResult<Unit>.Ok(default) : (OpResult<Unit>)status);
    }
}

internal sealed class NVerifyOp : VerifyBase, INfsOp<(uint[] Mask, byte[] Values), Unit>
{
    public static readonly NVerifyOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.NVerify;

    public ValueTask<OpResult<Unit>> ExecuteAsync(CompoundContext ctx, (uint[] Mask, byte[] Values) args, CancellationToken cancellationToken)
    {
        var status = Compare(ctx, args, out bool same);
        if (status == NfsStat4.Ok && same)
            status = NfsStat4.Same;
        return ValueTask.FromResult(status == NfsStat4.Ok ? OpResult<Unit>.Ok(default) : (OpResult<Unit>)status);
    }
}

/// <summary>TEST_STATEID, RFC 8881 §18.48: one status per stateid.</summary>
internal sealed class TestStateIdOp : INfsOp<StateId[], NfsStat4[]>
{
    public static readonly TestStateIdOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.TestStateId;

    public static StateId[] Decode(ref XdrReader r)
    {
        int count = r.ReadArrayCount(1024, minElementSize: 16);
        var ids = new StateId[count];
        for (int i = 0; i < count; i++)
            ids[i] = StateId.Read(ref r);
        return ids;
    }

    public ValueTask<OpResult<NfsStat4[]>> ExecuteAsync(CompoundContext ctx, StateId[] ids, CancellationToken cancellationToken)
    {
        var results = new NfsStat4[ids.Length];
        for (int i = 0; i < ids.Length; i++)
            results[i] = ids[i].IsSpecial ? NfsStat4.BadStateId
                : ctx.Server.States.IsLockKey(ids[i]) ? ctx.Server.States.FindLock(ids[i], ctx.Client, out _)
                : ctx.Server.States.FindOpen(ids[i], ctx.Client, out _);
        return ValueTask.FromResult(OpResult<NfsStat4[]>.Ok(results));
    }

    public static void Encode(in OpResult<NfsStat4[]> result, XdrWriter w)
    {
        if (result.Value is not { } v)
            return;
        w.WriteUInt32((uint)v.Length);
        foreach (var s in v)
            w.WriteUInt32((uint)s);
    }
}

/// <summary>FREE_STATEID, RFC 8881 §18.38: an open must be closed instead (LOCKS_HELD).</summary>
internal sealed class FreeStateIdOp : INfsOp<StateId, Unit>
{
    public static readonly FreeStateIdOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.FreeStateId;

    public static StateId Decode(ref XdrReader r) => StateId.Read(ref r);

    public ValueTask<OpResult<Unit>> ExecuteAsync(CompoundContext ctx, StateId id, CancellationToken cancellationToken)
    {
        var resolved = ctx.Resolve(id);
        var states = ctx.Server.States;
        if (states.IsLockKey(resolved))
        {
            var status = states.FindLock(resolved, ctx.Client, out var lockState);
            if (status != NfsStat4.Ok)
                return ValueTask.FromResult<OpResult<Unit>>(status);
            if (ctx.Server.RangeLocks.Holds(Engine.FileKey.From(lockState!.Open.FileId), lockState.EngineOwner))
                return ValueTask.FromResult<OpResult<Unit>>(NfsStat4.LocksHeld);
            states.Free(lockState);
            return ValueTask.FromResult(OpResult<Unit>.Ok(default));
        }
        var openStatus = states.FindOpen(resolved, ctx.Client, out _);
        return ValueTask.FromResult<OpResult<Unit>>(openStatus == NfsStat4.Ok ? NfsStat4.LocksHeld : openStatus);
    }

    public static void Encode(in OpResult<Unit> result, XdrWriter w)
    {
    }
}

/// <summary>DELEGRETURN, RFC 8881 §18.6: we grant no delegations yet, so there is none to return.</summary>
internal sealed class DelegReturnOp : INfsOp<StateId, Unit>
{
    public static readonly DelegReturnOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.DelegReturn;

    public static StateId Decode(ref XdrReader r) => StateId.Read(ref r);

    public ValueTask<OpResult<Unit>> ExecuteAsync(CompoundContext ctx, StateId id, CancellationToken cancellationToken) =>
        ValueTask.FromResult<OpResult<Unit>>(ctx.CurrentFh is null ? NfsStat4.NoFileHandle : NfsStat4.BadStateId);

    public static void Encode(in OpResult<Unit> result, XdrWriter w)
    {
    }
}

/// <summary>BIND_CONN_TO_SESSION, RFC 8881 §18.34: binds this connection to a session, fore, back or both.</summary>
internal sealed class BindConnToSessionOp : INfsOp<(byte[] SessionId, uint Direction, bool Rdma), (byte[] SessionId, uint Direction)>
{
    public static readonly BindConnToSessionOp Instance = new();

    private const uint ForeOrBoth = 3, BackOrBoth = 7, Fore = 1, Back = 2, Both = 3;

    public static NfsOpcode Opcode => NfsOpcode.BindConnToSession;

    public static (byte[] SessionId, uint Direction, bool Rdma) Decode(ref XdrReader r) => (Wire.ReadSessionId(ref r), r.ReadUInt32(), r.ReadBool());

    public ValueTask<OpResult<(byte[] SessionId, uint Direction)>> ExecuteAsync(CompoundContext ctx, (byte[] SessionId, uint Direction, bool Rdma) args, CancellationToken cancellationToken)
    {
        var session = ctx.Server.Clients.FindSession(args.SessionId);
        if (session is null)
            return ValueTask.FromResult<OpResult<(byte[], uint)>>(NfsStat4.BadSession);
        if (args.Direction is not (Fore or Back or ForeOrBoth or BackOrBoth))
            return ValueTask.FromResult<OpResult<(byte[], uint)>>(NfsStat4.Inval);
        lock (session.Sync)
            session.Connections.Add(ctx.Call.Connection);
        uint bound = args.Direction is ForeOrBoth or BackOrBoth ? Both : args.Direction;
        return ValueTask.FromResult(OpResult<(byte[], uint)>.Ok((session.Id, bound)));
    }

    public static void Encode(in OpResult<(byte[] SessionId, uint Direction)> result, XdrWriter w)
    {
        if (!result.IsOk)
            return;
        w.WriteFixedOpaque(result.Value.SessionId);
        w.WriteUInt32(result.Value.Direction);
        w.WriteBool(false); // no RDMA
    }
}
