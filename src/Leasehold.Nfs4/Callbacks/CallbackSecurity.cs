using Leasehold.Rpc.Messages;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Callbacks;

/// <summary>
/// The RPC credentials the server puts on every call of a session's back channel, chosen from the client's
/// <c>callback_sec_parms4</c> list (csa_sec_parms of CREATE_SESSION, RFC 8881 §18.36; bca_sec_parms of
/// BACKCHANNEL_CTL, §18.33). AUTH_NONE, or AUTH_SYS echoing the <c>authsys_parms</c> the client gave (stamp,
/// machine name, uid, gid, groups). RPCSEC_GSS is not offered by this server.
/// </summary>
internal sealed record CallbackSecurity(RpcCredentials Credentials)
{
    private const uint AuthNone = 0, AuthSys = 1, RpcSecGss = 6;

    /// <summary>At most this many entries in the list; real clients send one or two.</summary>
    private const int MaxEntries = 16;

    public static CallbackSecurity None { get; } = new(RpcCredentials.None);

    /// <summary>
    /// Decodes <c>callback_sec_parms4&lt;&gt;</c> and picks the first AUTH_NONE or AUTH_SYS entry, as knfsd's
    /// <c>nfsd4_check_cb_sec</c> does. An empty list means AUTH_NONE (knfsd reads it so too: pynfs and other clients
    /// send one). Null when the list offers neither AUTH_NONE nor AUTH_SYS (RPCSEC_GSS only): the caller answers
    /// NFS4ERR_ENCR_ALG_UNSUPP. Throws <see cref="XdrException"/> on malformed XDR or an unknown flavor.
    /// </summary>
    public static CallbackSecurity? Read(ref XdrReader r)
    {
        int count = r.ReadArrayCount(MaxEntries, minElementSize: 4);
        if (count == 0)
            return None;
        CallbackSecurity? chosen = null;
        for (int i = 0; i < count; i++)
        {
            uint flavor = r.ReadUInt32();
            switch (flavor)
            {
                case AuthNone:
                    chosen ??= None;
                    break;
                case AuthSys:
                {
                    var credentials = ReadAuthSysParms(ref r);
                    chosen ??= new CallbackSecurity(credentials);
                    break;
                }
                case RpcSecGss: // gss_cb_handles4: service, handle from server, handle from client
                    r.ReadUInt32();
                    r.ReadOpaque(Protocol.Wire.MaxOpaque);
                    r.ReadOpaque(Protocol.Wire.MaxOpaque);
                    break;
                default:
                    XdrException.Throw($"Unknown callback security flavor {flavor}.");
                    break;
            }
        }
        return chosen;
    }

    /// <summary>authsys_parms inline (not wrapped in an opaque body): stamp, machinename&lt;255&gt;, uid, gid, gids&lt;16&gt;.</summary>
    private static RpcCredentials ReadAuthSysParms(ref XdrReader r)
    {
        uint stamp = r.ReadUInt32();
        string machine = r.ReadString(RpcCredentials.MaxMachineName);
        uint uid = r.ReadUInt32();
        uint gid = r.ReadUInt32();
        int count = r.ReadArrayCount(RpcCredentials.MaxGroups);
        var groups = count == 0 ? [] : new uint[count];
        for (int i = 0; i < count; i++)
            groups[i] = r.ReadUInt32();
        return new RpcCredentials(AuthFlavor.Sys, uid, gid, groups, machine) { Stamp = stamp };
    }

    public override string ToString() => Credentials.Flavor == AuthFlavor.Sys ? $"AUTH_SYS {Credentials.Uid}:{Credentials.Gid}" : "AUTH_NONE";
}
