using Leasehold.Rpc.Messages;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Nfs4.Client.Rpc;

/// <summary>Builds the credentials a call carries: AUTH_NONE or AUTH_SYS (RFC 5531 §8.2 and appendix A).</summary>
public static class RpcAuth
{
    /// <summary>No identity: servers map AUTH_NONE callers to their anonymous user.</summary>
    public static RpcCredentials None => RpcCredentials.None;

    /// <summary>root (uid 0, gid 0): what the tests and the load generator use against an export with no root squash.</summary>
    public static RpcCredentials Root { get; } = Sys(0, 0);

    /// <summary>AUTH_SYS with the given ids. The machine name defaults to this host's name, cut to the protocol's 255 bytes.</summary>
    public static RpcCredentials Sys(uint uid, uint gid, uint[]? groups = null, string? machineName = null)
    {
        groups ??= [];
        if (groups.Length > RpcCredentials.MaxGroups)
            throw new ArgumentException($"AUTH_SYS carries at most {RpcCredentials.MaxGroups} groups.", nameof(groups));
        string machine = machineName ?? Environment.MachineName;
        if (machine.Length > RpcCredentials.MaxMachineName)
            machine = machine[..RpcCredentials.MaxMachineName];
        return new RpcCredentials(AuthFlavor.Sys, uid, gid, groups, machine);
    }

    /// <summary>Writes opaque_auth: the flavor, then the body (empty for AUTH_NONE). Same as <see cref="RpcCredentials.Write"/>.</summary>
    public static void Write(XdrWriter w, RpcCredentials credentials) => credentials.Write(w);

    /// <summary>authsys_parms: stamp, machinename, uid, gid, gids (also the body of callback_sec_parms4's AUTH_SYS arm).</summary>
    public static void WriteAuthSysParms(XdrWriter w, RpcCredentials credentials) => credentials.WriteAuthSysParms(w);
}
