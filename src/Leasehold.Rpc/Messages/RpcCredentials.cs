using Leasehold.Rpc.Xdr;

namespace Leasehold.Rpc.Messages;

/// <summary>
/// Who sent a call: the flavor and, for AUTH_SYS (RFC 5531 appendix A), the caller's claimed uid, gid and groups.
/// AUTH_NONE callers are anonymous (the export maps them to its anonymous user).
/// </summary>
public sealed record RpcCredentials(AuthFlavor Flavor, uint Uid, uint Gid, uint[] Groups, string MachineName)
{
    public const int MaxAuthBody = 400;     // RFC 5531 §8.2: opaque body<400>
    public const int MaxMachineName = 255;  // authsys_parms machinename<255>
    public const int MaxGroups = 16;        // authsys_parms gids<16>

    /// <summary>No identity (AUTH_NONE).</summary>
    public static RpcCredentials None { get; } = new(AuthFlavor.None, uint.MaxValue, uint.MaxValue, [], string.Empty);

    public bool IsAnonymous => Flavor == AuthFlavor.None;

    /// <summary>Decodes the body of an AUTH_SYS credential; throws <see cref="XdrException"/> if it is malformed.</summary>
    public static RpcCredentials ReadAuthSys(ReadOnlySpan<byte> body)
    {
        var r = new XdrReader(body);
        r.ReadUInt32(); // stamp
        string machine = r.ReadString(MaxMachineName);
        uint uid = r.ReadUInt32();
        uint gid = r.ReadUInt32();
        int count = r.ReadArrayCount(MaxGroups);
        var groups = count == 0 ? [] : new uint[count];
        for (int i = 0; i < count; i++)
            groups[i] = r.ReadUInt32();
        if (r.Remaining != 0)
            XdrException.Throw("AUTH_SYS credential has trailing bytes.");
        return new RpcCredentials(AuthFlavor.Sys, uid, gid, groups, machine);
    }
}
