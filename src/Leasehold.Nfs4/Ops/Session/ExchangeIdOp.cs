using System.Text;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Messages;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

internal sealed record ExchangeIdArgs(ulong Verifier, byte[] OwnerId, uint Flags, uint StateProtect);

internal sealed record ExchangeIdResult(ulong ClientId, uint SequenceId, uint Flags, byte[] ServerOwner, byte[] ServerScope);

/// <summary>EXCHANGE_ID, RFC 8881 §18.35: a client introduces itself; the record rules are in <see cref="State.ClientTable"/>.</summary>
internal sealed class ExchangeIdOp : INfsOp<ExchangeIdArgs, ExchangeIdResult>
{
    public static readonly ExchangeIdOp Instance = new();

    private const uint SupportMovedRefer = 0x1, SupportMovedMigr = 0x2, BindPrincipalStateId = 0x100;
    private const uint UseNonPnfs = 0x10000, PnfsMask = 0x70000;
    private const uint UpdateConfirmedRecord = 0x4000_0000, ConfirmedResult = 0x8000_0000;
    private const uint ClientFlags = SupportMovedRefer | SupportMovedMigr | BindPrincipalStateId | PnfsMask | UpdateConfirmedRecord;
    private const uint Sp4None = 0, Sp4MachCred = 1;

    public static NfsOpcode Opcode => NfsOpcode.ExchangeId;

    public static ExchangeIdArgs Decode(ref XdrReader r)
    {
        ulong verifier = Wire.ReadVerifier(ref r);
        var owner = r.ReadOpaque(Wire.MaxOpaque).ToArray();
        uint flags = r.ReadUInt32();
        uint how = r.ReadUInt32();
        switch (how)
        {
            case Sp4None:
                break;
            case Sp4MachCred:
                Wire.ReadBitmap(ref r); // spo_must_enforce
                Wire.ReadBitmap(ref r); // spo_must_allow
                break;
            default:
                // SP4_SSV parameters are long; the operation refuses SSV anyway, so the rest need not be decoded.
                r.Skip(r.Remaining);
                return new ExchangeIdArgs(verifier, owner, flags, how);
        }
        int impls = r.ReadArrayCount(1);
        for (int i = 0; i < impls; i++)
        {
            r.ReadOpaque(Wire.MaxOpaque); // nii_domain
            r.ReadOpaque(Wire.MaxOpaque); // nii_name
            r.ReadUInt64();               // nii_date seconds
            r.ReadUInt32();               // nii_date nanoseconds
        }
        return new ExchangeIdArgs(verifier, owner, flags, how);
    }

    public ValueTask<OpResult<ExchangeIdResult>> ExecuteAsync(CompoundContext ctx, ExchangeIdArgs args, CancellationToken cancellationToken) =>
        ValueTask.FromResult(Execute(ctx, args));

    private static OpResult<ExchangeIdResult> Execute(CompoundContext ctx, ExchangeIdArgs args)
    {
        if ((args.Flags & ~ClientFlags) != 0)
            return NfsStat4.Inval; // §18.35.3: CONFIRMED_R, or any undefined bit, from a client is invalid
        if (args.StateProtect is not (Sp4None or Sp4MachCred))
            return NfsStat4.EncrAlgUnsupp; // no SSV: we do not implement its encryption
        if (args.OwnerId.Length == 0)
            return NfsStat4.Inval;

        string principal = PrincipalOf(ctx);
        bool update = (args.Flags & UpdateConfirmedRecord) != 0;
        var status = ctx.Server.Clients.ExchangeId(args.OwnerId, args.Verifier, principal, update, out var client);
        if (status != NfsStat4.Ok)
            return status;
        if (!client!.Reclaimer && ctx.Server.Grace.RoleOf(args.OwnerId, principal) == State.Recovery.ReclaimRole.OtherPrincipal)
            Log.ReclaimByOtherPrincipal(ctx.Server.Logger, client.ClientId, principal); // its reclaims will be NO_GRACE

        uint flags = UseNonPnfs | (client!.Confirmed ? ConfirmedResult : 0);
        var owner = ctx.Server.ServerOwner;
        return OpResult<ExchangeIdResult>.Ok(new ExchangeIdResult(client.ClientId, client.NextCreateSessionSequence, flags, owner, owner));
    }

    /// <summary>Who is calling, for the client record's principal checks: the AUTH_SYS uid, or "none".</summary>
    public static string PrincipalOf(CompoundContext ctx)
    {
        var credentials = ctx.Call.Credentials;
        return credentials.Flavor == AuthFlavor.Sys ? $"sys:{credentials.Uid}" : "none";
    }

    public static void Encode(in OpResult<ExchangeIdResult> result, XdrWriter w)
    {
        if (result.Value is not { } v)
            return;
        w.WriteUInt64(v.ClientId);
        w.WriteUInt32(v.SequenceId);
        w.WriteUInt32(v.Flags);
        w.WriteUInt32(Sp4None);        // eir_state_protect
        w.WriteUInt64(0);              // so_minor_id
        w.WriteOpaque(v.ServerOwner);  // so_major_id
        w.WriteOpaque(v.ServerScope);  // eir_server_scope
        w.WriteUInt32(1);              // eir_server_impl_id<1>
        w.WriteOpaque(Encoding.UTF8.GetBytes("leasehold.invalid"));
        w.WriteOpaque(Encoding.UTF8.GetBytes("Leasehold NFSv4.1 server"));
        w.WriteUInt64(0);
        w.WriteUInt32(0);
    }
}
