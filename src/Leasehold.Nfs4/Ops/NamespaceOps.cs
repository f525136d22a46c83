using Leasehold.Export;
using Leasehold.Nfs4.Attributes;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>Shared steps of the operations that change a directory: the current filehandle must be a directory.</summary>
internal static class Directories
{
    public static NfsStat4 RequireDirectory(CompoundContext ctx, FileHandle? handle, NfsStat4 missing, out FileHandle dir, out FileAttributes? attrs)
    {
        attrs = null;
        dir = default;
        if (handle is not { } h)
            return missing;
        dir = h;
        var a = ctx.Tree.GetAttributes(h);
        if (!a.IsOk)
            return a.Status.ToNfs();
        attrs = a.Value;
        return a.Value.Type switch
        {
            FileType.Directory => NfsStat4.Ok,
            FileType.Symlink => NfsStat4.Symlink,
            _ => NfsStat4.NotDir,
        };
    }

    public static ChangeInfo Change(CompoundContext ctx, FileAttributes before, FileHandle dir)
    {
        var after = ctx.Tree.GetAttributes(dir);
        return new ChangeInfo(false, before.Change, after.IsOk ? after.Value.Change : before.Change);
    }
}

internal sealed record CreateArgs(FileType Type, byte[] LinkData, uint Major, uint Minor, byte[] Name, uint[] AttrMask, byte[] AttrValues);

/// <summary>CREATE, RFC 8881 §18.4: directories, symlinks, fifos, sockets and devices; regular files are OPEN's (BADTYPE).</summary>
internal sealed class CreateOp : INfsOp<CreateArgs, (ChangeInfo Change, uint[] AttrSet)>
{
    public static readonly CreateOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.Create;

    public static CreateArgs Decode(ref XdrReader r)
    {
        var type = (FileType)r.ReadUInt32();
        byte[] link = [];
        uint major = 0, minor = 0;
        switch (type)
        {
            case FileType.Symlink:
                link = Names.ReadComponent(ref r);
                break;
            case FileType.BlockDevice:
            case FileType.CharacterDevice:
                major = r.ReadUInt32();
                minor = r.ReadUInt32();
                break;
        }
        var name = Names.ReadComponent(ref r);
        var mask = Wire.ReadBitmap(ref r);
        var values = r.ReadOpaque(int.MaxValue).ToArray();
        return new CreateArgs(type, link, major, minor, name, mask, values);
    }

    public async ValueTask<OpResult<(ChangeInfo Change, uint[] AttrSet)>> ExecuteAsync(CompoundContext ctx, CreateArgs args, CancellationToken cancellationToken)
    {
        var status = Directories.RequireDirectory(ctx, ctx.CurrentFh, NfsStat4.NoFileHandle, out var dir, out var before);
        if (status != NfsStat4.Ok)
            return status;
        if (args.Type is FileType.Regular)
            return NfsStat4.BadType;
        if (args.Type is not (FileType.Directory or FileType.Symlink or FileType.Fifo or FileType.Socket or FileType.BlockDevice or FileType.CharacterDevice))
            return NfsStat4.BadType;
        status = Names.Validate(args.Name, out var name);
        if (status != NfsStat4.Ok)
            return status;
        if (args.Type == FileType.Symlink && (status = Names.ValidateLinkText(args.LinkData)) != NfsStat4.Ok)
            return status;
        status = FattrDecoder.Read(args.AttrMask, args.AttrValues, out var changes);
        if (status != NfsStat4.Ok)
            return status;
        uint mode = changes.Mode ?? (args.Type == FileType.Directory ? 0x1EDu : 0x1A4u); // 0755, 0644
        var context = ctx.ChangeContext;
        FsResult<FileHandle> made = args.Type switch
        {
            FileType.Directory => await ctx.Tree.CreateDirectoryAsync(ctx.Caller, dir, name, mode, context, cancellationToken).ConfigureAwait(false),
            FileType.Symlink => await ctx.Tree.CreateSymlinkAsync(ctx.Caller, dir, name, args.LinkData, context, cancellationToken).ConfigureAwait(false),
            _ => await ctx.Tree.CreateNodeAsync(ctx.Caller, dir, name, args.Type, mode, args.Major, args.Minor, context, cancellationToken).ConfigureAwait(false),
        };
        if (!made.IsOk)
            return made.Status.ToNfs();
        var rest = changes with { Mode = null };
        if (!rest.IsEmpty)
            await ctx.Tree.SetAttributesAsync(ctx.Caller, made.Value, rest, context, cancellationToken).ConfigureAwait(false);
        var change = Directories.Change(ctx, before!, dir);
        ctx.CurrentFh = made.Value;
        ctx.CurrentStateId = StateId.Invalid;
        return OpResult<(ChangeInfo, uint[])>.Ok((change, args.AttrMask));
    }

    public static void Encode(in OpResult<(ChangeInfo Change, uint[] AttrSet)> result, XdrWriter w)
    {
        if (!result.IsOk)
            return;
        result.Value.Change.Write(w);
        Wire.WriteBitmap(w, result.Value.AttrSet);
    }
}

/// <summary>REMOVE, RFC 8881 §18.25.</summary>
internal sealed class RemoveOp : INfsOp<byte[], ChangeInfo>
{
    public static readonly RemoveOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.Remove;

    public static byte[] Decode(ref XdrReader r) => Names.ReadComponent(ref r);

    public async ValueTask<OpResult<ChangeInfo>> ExecuteAsync(CompoundContext ctx, byte[] raw, CancellationToken cancellationToken)
    {
        var status = Directories.RequireDirectory(ctx, ctx.CurrentFh, NfsStat4.NoFileHandle, out var dir, out var before);
        if (status != NfsStat4.Ok)
            return status;
        status = Names.Validate(raw, out var name);
        if (status != NfsStat4.Ok)
            return status;
        var removed = await ctx.Tree.RemoveAsync(ctx.Caller, dir, name, ctx.ChangeContext, cancellationToken).ConfigureAwait(false);
        if (removed != FsStatus.Ok)
            return removed.ToNfs();
        return OpResult<ChangeInfo>.Ok(Directories.Change(ctx, before!, dir));
    }

    public static void Encode(in OpResult<ChangeInfo> result, XdrWriter w)
    {
        if (result.IsOk)
            result.Value.Write(w);
    }
}

/// <summary>RENAME, RFC 8881 §18.26: from the saved filehandle's directory to the current one's.</summary>
internal sealed class RenameOp : INfsOp<(byte[] From, byte[] To), (ChangeInfo Source, ChangeInfo Target)>
{
    public static readonly RenameOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.Rename;

    public static (byte[] From, byte[] To) Decode(ref XdrReader r) => (Names.ReadComponent(ref r), Names.ReadComponent(ref r));

    public async ValueTask<OpResult<(ChangeInfo Source, ChangeInfo Target)>> ExecuteAsync(CompoundContext ctx, (byte[] From, byte[] To) args, CancellationToken cancellationToken)
    {
        var status = Directories.RequireDirectory(ctx, ctx.SavedFh, NfsStat4.NoFileHandle, out var fromDir, out var fromBefore);
        if (status != NfsStat4.Ok)
            return status;
        status = Directories.RequireDirectory(ctx, ctx.CurrentFh, NfsStat4.NoFileHandle, out var toDir, out var toBefore);
        if (status != NfsStat4.Ok)
            return status;
        status = Names.Validate(args.From, out var from);
        if (status != NfsStat4.Ok)
            return status;
        status = Names.Validate(args.To, out var to);
        if (status != NfsStat4.Ok)
            return status;
        var renamed = await ctx.Tree.RenameAsync(ctx.Caller, fromDir, from, toDir, to, ctx.ChangeContext, cancellationToken).ConfigureAwait(false);
        if (renamed != FsStatus.Ok)
            return renamed.ToNfs();
        return OpResult<(ChangeInfo, ChangeInfo)>.Ok((Directories.Change(ctx, fromBefore!, fromDir), Directories.Change(ctx, toBefore!, toDir)));
    }

    public static void Encode(in OpResult<(ChangeInfo Source, ChangeInfo Target)> result, XdrWriter w)
    {
        if (!result.IsOk)
            return;
        result.Value.Source.Write(w);
        result.Value.Target.Write(w);
    }
}

/// <summary>LINK, RFC 8881 §18.9: the saved filehandle is the file, the current one the directory.</summary>
internal sealed class LinkOp : INfsOp<byte[], ChangeInfo>
{
    public static readonly LinkOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.Link;

    public static byte[] Decode(ref XdrReader r) => Names.ReadComponent(ref r);

    public async ValueTask<OpResult<ChangeInfo>> ExecuteAsync(CompoundContext ctx, byte[] raw, CancellationToken cancellationToken)
    {
        if (ctx.SavedFh is not { } file)
            return NfsStat4.NoFileHandle;
        var status = Directories.RequireDirectory(ctx, ctx.CurrentFh, NfsStat4.NoFileHandle, out var dir, out var before);
        if (status != NfsStat4.Ok)
            return status;
        var source = ctx.Tree.GetAttributes(file);
        if (!source.IsOk)
            return source.Status.ToNfs();
        if (source.Value.Type == FileType.Directory)
            return NfsStat4.IsDir;
        status = Names.Validate(raw, out var name);
        if (status != NfsStat4.Ok)
            return status;
        var linked = await ctx.Tree.LinkAsync(ctx.Caller, file, dir, name, ctx.ChangeContext, cancellationToken).ConfigureAwait(false);
        if (!linked.IsOk)
            return linked.Status.ToNfs();
        return OpResult<ChangeInfo>.Ok(Directories.Change(ctx, before!, dir));
    }

    public static void Encode(in OpResult<ChangeInfo> result, XdrWriter w)
    {
        if (result.IsOk)
            result.Value.Write(w);
    }
}

/// <summary>READLINK, RFC 8881 §18.24.</summary>
internal sealed class ReadLinkOp : INfsOp<Unit, byte[]>
{
    public static readonly ReadLinkOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.ReadLink;

    public static Unit Decode(ref XdrReader r) => default;

    public ValueTask<OpResult<byte[]>> ExecuteAsync(CompoundContext ctx, Unit args, CancellationToken cancellationToken)
    {
        if (!ctx.TryGetCurrentFh(out var fh, out var status))
            return ValueTask.FromResult<OpResult<byte[]>>(status);
        var attrs = ctx.Tree.GetAttributes(fh);
        if (!attrs.IsOk)
            return ValueTask.FromResult<OpResult<byte[]>>(attrs.Status.ToNfs());
        if (attrs.Value.Type != FileType.Symlink)
            return ValueTask.FromResult<OpResult<byte[]>>(attrs.Value.Type == FileType.Directory ? NfsStat4.IsDir : NfsStat4.Inval);
        var target = ctx.Tree.ReadLink(ctx.Caller, fh);
        return ValueTask.FromResult(target.IsOk ? OpResult<byte[]>.Ok(target.Value) : (OpResult<byte[]>)target.Status.ToNfs());
    }

    public static void Encode(in OpResult<byte[]> result, XdrWriter w)
    {
        if (result.IsOk)
            w.WriteOpaque(result.Value!); // the stored bytes, any charset
    }
}
