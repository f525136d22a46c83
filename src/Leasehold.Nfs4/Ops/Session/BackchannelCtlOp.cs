using Leasehold.Nfs4.Callbacks;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Ops;

/// <summary>BACKCHANNEL_CTL4args (RFC 8881 §18.33.1): the new csa_cb_program and the security chosen from bca_sec_parms (null: none acceptable).</summary>
internal sealed record BackchannelCtlArgs(uint CallbackProgram, CallbackSecurity? Security);

/// <summary>
/// BACKCHANNEL_CTL, RFC 8881 §18.33: replaces the callback program and security of the back channel of the
/// COMPOUND's session (the SEQUENCE's; without one the dispatcher answers NFS4ERR_OP_NOT_IN_SESSION), then probes it
/// with CB_NULL asynchronously: a fore-channel operation never waits for a callback. Errors:
/// NFS4ERR_ENCR_ALG_UNSUPP when bca_sec_parms offers neither AUTH_NONE nor AUTH_SYS (knfsd's
/// <c>nfsd4_check_cb_sec</c>).
/// </summary>
internal sealed class BackchannelCtlOp : INfsOp<BackchannelCtlArgs, Unit>
{
    public static readonly BackchannelCtlOp Instance = new();

    public static NfsOpcode Opcode => NfsOpcode.BackchannelCtl;

    public static BackchannelCtlArgs Decode(ref XdrReader r) => new(r.ReadUInt32(), CallbackSecurity.Read(ref r));

    public ValueTask<OpResult<Unit>> ExecuteAsync(CompoundContext ctx, BackchannelCtlArgs args, CancellationToken cancellationToken)
    {
        if (ctx.Session is not { } session)
            return ValueTask.FromResult<OpResult<Unit>>(NfsStat4.OpNotInSession);
        if (args.Security is not { } security)
            return ValueTask.FromResult<OpResult<Unit>>(NfsStat4.EncrAlgUnsupp);
        session.Back.Configure(args.CallbackProgram, security);
        _ = session.Back.ProbeAsync(); // bounded by CallbackTimeout
        return ValueTask.FromResult(OpResult<Unit>.Ok(default));
    }

    public static void Encode(in OpResult<Unit> result, XdrWriter w)
    {
    }
}
