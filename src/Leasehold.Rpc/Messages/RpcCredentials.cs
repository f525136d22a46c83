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

    /// <summary>
    /// AUTH_SYS's stamp: an arbitrary id the sender chose (RFC 5531 appendix A). Kept as read, so that a credential
    /// received (NFSv4.1's callback_sec_parms4) is sent back exactly as given. 0 unless set.
    /// </summary>
    public uint Stamp { get; init; }

    /// <summary>
    /// Writes opaque_auth (RFC 5531 §8.2): the flavor, then the body (empty for AUTH_NONE, <c>authsys_parms</c> for
    /// AUTH_SYS). Throws <see cref="NotSupportedException"/> for any other flavor: this layer cannot produce one.
    /// </summary>
    public void Write(XdrWriter w)
    {
        w.WriteUInt32((uint)Flavor);
        switch (Flavor)
        {
            case AuthFlavor.None:
                w.WriteUInt32(0);
                break;
            case AuthFlavor.Sys:
                int lengthAt = w.ReserveUInt32();
                int start = w.Position;
                WriteAuthSysParms(w);
                w.PatchUInt32(lengthAt, (uint)(w.Position - start));
                break;
            default:
                throw new NotSupportedException($"Credential flavor {Flavor} cannot be written.");
        }
    }

    /// <summary>authsys_parms (RFC 5531 appendix A): stamp, machinename, uid, gid, gids.</summary>
    public void WriteAuthSysParms(XdrWriter w)
    {
        w.WriteUInt32(Stamp);
        w.WriteString(MachineName);
        w.WriteUInt32(Uid);
        w.WriteUInt32(Gid);
        w.WriteUInt32((uint)Groups.Length);
        foreach (uint g in Groups)
            w.WriteUInt32(g);
    }

    /// <summary>Decodes the body of an AUTH_SYS credential; throws <see cref="XdrException"/> if it is malformed.</summary>
    public static RpcCredentials ReadAuthSys(ReadOnlySpan<byte> body)
    {
        var r = new XdrReader(body);
        uint stamp = r.ReadUInt32();
        string machine = r.ReadString(MaxMachineName);
        uint uid = r.ReadUInt32();
        uint gid = r.ReadUInt32();
        int count = r.ReadArrayCount(MaxGroups);
        var groups = count == 0 ? [] : new uint[count];
        for (int i = 0; i < count; i++)
            groups[i] = r.ReadUInt32();
        if (r.Remaining != 0)
            XdrException.Throw("AUTH_SYS credential has trailing bytes.");
        return new RpcCredentials(AuthFlavor.Sys, uid, gid, groups, machine) { Stamp = stamp };
    }
}
