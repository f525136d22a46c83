using Leasehold.Nfs4.Client;
using Leasehold.Rpc.Messages;
using Leasehold.Rpc.Xdr;
using Leasehold.Testing;

namespace Leasehold.IntegrationTests;

/// <summary>An RPC reply (RFC 5531 §9) taken apart by hand, for calls sent with <see cref="RpcTestClient"/>.</summary>
public sealed record RawReply(uint Xid, ReplyStat Stat, AcceptStat? Accept, RejectStat? Reject, uint MismatchLow, uint MismatchHigh, byte[] Results)
{
    public static RawReply Parse(byte[] record)
    {
        var r = new XdrReader(record);
        uint xid = r.ReadUInt32();
        Assert.Equal((uint)MsgType.Reply, r.ReadUInt32());
        var stat = (ReplyStat)r.ReadUInt32();
        if (stat == ReplyStat.MsgDenied)
        {
            var reject = (RejectStat)r.ReadUInt32();
            uint low = 0, high = 0;
            if (reject == RejectStat.RpcMismatch)
                (low, high) = (r.ReadUInt32(), r.ReadUInt32());
            return new RawReply(xid, stat, null, reject, low, high, []);
        }
        r.ReadUInt32(); // verifier flavor
        r.ReadOpaque(RpcCredentials.MaxAuthBody);
        var accept = (AcceptStat)r.ReadUInt32();
        if (accept == AcceptStat.ProgMismatch)
            return new RawReply(xid, stat, accept, null, r.ReadUInt32(), r.ReadUInt32(), []);
        return new RawReply(xid, stat, accept, null, 0, 0, r.Rest.ToArray());
    }

    /// <summary>The COMPOUND4res in a successful reply.</summary>
    public CompoundReply Compound()
    {
        Assert.Equal(AcceptStat.Success, Accept);
        return CompoundReply.Decode(Results);
    }
}

/// <summary>Hand-built calls to the NFS program over a raw connection.</summary>
public static class RawRpc
{
    public const uint NfsProgram = 100003;

    /// <summary>Sends a call with AUTH_SYS root and the given argument bytes and parses the reply.</summary>
    public static async Task<RawReply> CallAsync(this RpcTestClient client, uint version, uint procedure, byte[] args, uint program = NfsProgram)
    {
        byte[] call = RpcTestClient.BuildCall(client.NextXid(), program, version, procedure, w => w.WriteFixedOpaque(args),
            credFlavor: (uint)AuthFlavor.Sys, credBody: RpcTestClient.AuthSys(0, 0));
        return RawReply.Parse(await client.CallAsync(call).Bounded());
    }

    /// <summary>COMPOUND4args: tag, minor version, the count and the operations, each as given (no SEQUENCE added).</summary>
    public static byte[] Compound(uint minorVersion, uint count, ReadOnlySpan<byte> operations, string tag = "raw")
    {
        using var w = new XdrWriter();
        w.WriteString(tag);
        w.WriteUInt32(minorVersion);
        w.WriteUInt32(count);
        w.WriteFixedOpaque(operations);
        return w.WrittenSpan.ToArray();
    }

    public static byte[] Words(params uint[] words)
    {
        using var w = new XdrWriter();
        foreach (uint word in words)
            w.WriteUInt32(word);
        return w.WrittenSpan.ToArray();
    }
}
