using Leasehold.Export;
using Leasehold.Nfs4.Attributes;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

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

    /// <summary>A new entry is made durable (fsync of the directory, Export:SyncDirectoryChanges) before the answer.</summary>
    public static bool MayWaitOnDisk(CreateArgs args) => true;

    public async ValueTask<OpResult<(ChangeInfo Change, uint[] AttrSet)>> ExecuteAsync(CompoundContext ctx, CreateArgs args, CancellationToken cancellationToken)
    {
        using var scope = Directories.BeginChange(ctx, ctx.CurrentFh);
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
        status = FattrDecoder.Read(args.AttrMask, args.AttrValues, ctx.Server.FattrFor(ctx.MinorVersion), creating: true, out var changes);
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
        var change = Directories.Change(ctx, before, dir, scope);
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
