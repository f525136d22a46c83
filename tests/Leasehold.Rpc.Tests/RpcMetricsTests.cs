using System.Net;
using Leasehold.Rpc.Messages;
using Leasehold.Rpc.Server;
using Leasehold.Rpc.Xdr;
using Leasehold.Testing;

namespace Leasehold.Rpc.Tests;

/// <summary>The RPC layer's instruments (<see cref="RpcMetrics"/>) on a real listener; the recorder hears this server's meter only.</summary>
public sealed class RpcMetricsTests
{
    private const uint Program = 400_100;

    /// <summary>Serves procedure 1 only; any other is PROC_UNAVAIL.</summary>
    private sealed class ProcOneProgram : IRpcProgram
    {
        public uint Program => RpcMetricsTests.Program;

        public uint LowVersion => 1;

        public uint HighVersion => 1;

        public ValueTask<AcceptStat> HandleAsync(RpcCall call, XdrWriter results, CancellationToken cancellationToken) =>
            ValueTask.FromResult(call.Procedure == 1 ? AcceptStat.Success : AcceptStat.ProcUnavail);
    }

    /// <summary>The accept_stat of an accepted reply record.</summary>
    private static AcceptStat Accept(byte[] record)
    {
        var r = new XdrReader(record);
        r.ReadUInt32(); // xid
        Assert.Equal(1u, r.ReadUInt32()); // REPLY
        Assert.Equal(0u, r.ReadUInt32()); // MSG_ACCEPTED
        r.ReadUInt32();
        r.ReadOpaque(400); // verifier
        return (AcceptStat)r.ReadUInt32();
    }

    [Fact]
    public async Task Connections_and_calls_are_counted_by_program_and_accept_status()
    {
        await using var server = new RpcServer([new ProcOneProgram()]);
        using var m = new MeterRecorder(server.Metrics.Meter);
        Assert.Equal(RpcMetrics.MeterName, server.Metrics.Meter.Name);
        server.Start(new IPEndPoint(IPAddress.Loopback, 0));

        await using (var client = await RpcTestClient.ConnectAsync(server.LocalEndPoint!))
        {
            Assert.Equal(AcceptStat.Success, Accept(await client.CallAsync(RpcTestClient.BuildCall(1, Program, 1, 0))));
            Assert.Equal(AcceptStat.ProcUnavail, Accept(await client.CallAsync(RpcTestClient.BuildCall(2, Program, 1, 42))));
            Assert.Equal(AcceptStat.ProgUnavail, Accept(await client.CallAsync(RpcTestClient.BuildCall(3, 999_999, 1, 0))));

            Assert.Equal(1, m.Sum(RpcMetrics.ConnectionsAcceptedName));
            Assert.Equal(1, m.Sum(RpcMetrics.ConnectionsName));
            Assert.Equal(1, m.Sum(RpcMetrics.CallsName, ("rpc.program", Program), ("rpc.accept_status", "SUCCESS")));
            Assert.Equal(1, m.Sum(RpcMetrics.CallsName, ("rpc.program", Program), ("rpc.accept_status", "PROC_UNAVAIL")));
            // A program the server does not serve is not a tag value (a peer could make up any number of them).
            var unavailable = Assert.Single(m.Of(RpcMetrics.CallsName, ("rpc.accept_status", "PROG_UNAVAIL")));
            Assert.False(unavailable.Tags.ContainsKey("rpc.program"));
        }

        // The server notices the close on its own time.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (m.Sum(RpcMetrics.ConnectionsName) != 0 && DateTime.UtcNow < deadline)
            await Task.Delay(10);
        Assert.Equal(0, m.Sum(RpcMetrics.ConnectionsName));
        Assert.Equal(1, m.Sum(RpcMetrics.ConnectionsAcceptedName));
    }
    [Fact]
    public async Task Denied_calls_are_counted_by_reject_status_without_a_program()
    {
        await using var server = new RpcServer([new ProcOneProgram()]);
        using var m = new MeterRecorder(server.Metrics.Meter);
        server.Start(new IPEndPoint(IPAddress.Loopback, 0));
        await using var client = await RpcTestClient.ConnectAsync(server.LocalEndPoint!);

        await client.CallAsync(RpcTestClient.BuildCall(1, Program, 1, 1, rpcVersion: 3));
        await client.CallAsync(RpcTestClient.BuildCall(2, Program, 1, 1, credFlavor: (uint)AuthFlavor.Dh, credBody: [1, 2, 3, 4]));
        await client.CallAsync(RpcTestClient.BuildCall(3, Program, 1, 1, credFlavor: (uint)AuthFlavor.Dh, credBody: [1, 2, 3, 4]));
        Assert.Equal(AcceptStat.Success, Accept(await client.CallAsync(RpcTestClient.BuildCall(4, Program, 1, 1))));

        var mismatch = Assert.Single(m.Of(RpcMetrics.CallsName, ("rpc.accept_status", "RPC_MISMATCH")));
        Assert.Equal(1, mismatch.Value);
        Assert.False(mismatch.Tags.ContainsKey("rpc.program"));
        var authError = Assert.Single(m.Of(RpcMetrics.CallsName, ("rpc.accept_status", "AUTH_ERROR")));
        Assert.Equal(2, authError.Value);
        Assert.False(authError.Tags.ContainsKey("rpc.program"));
        Assert.Equal(4, m.Sum(RpcMetrics.CallsName));
    }
}
