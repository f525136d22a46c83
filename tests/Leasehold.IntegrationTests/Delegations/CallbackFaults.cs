using System.Buffers.Binary;
using Leasehold.Nfs4.Client;
using Leasehold.Nfs4.Client.Rpc;
using Leasehold.Rpc.Messages;
using Leasehold.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Leasehold.IntegrationTests.Delegations;

/// <summary>
/// A server on a manual clock with a 10 s lease (so a recalled delegation is revoked 10 s of that clock after its
/// recall) and a 1 s callback retry delay. The callback timeout is a minute, longer than any test moves the clock:
/// a test sees a callback before the server has read the client's reply to it, and moving the clock past the timeout
/// in between would time the answered call out.
/// </summary>
public sealed class RecallFaultServerFixture : ServerFixture
{
    public static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);

    public ManualTimeProvider Clock { get; } = new();

    public override TimeSpan LeaseTime => TimeSpan.FromSeconds(10);

    public override TimeProvider Time => Clock;

    /// <summary>The server's warnings and errors.</summary>
    public LogCapture Log { get; } = new();

    protected override void ConfigureServices(IServiceCollection services) => services.AddSingleton<ILoggerProvider>(Log);

    protected override void Configure(IDictionary<string, string?> settings)
    {
        settings["Nfs4:CallbackRetryDelay"] = RetryDelay.ToString();
        settings["Nfs4:CallbackTimeout"] = TimeSpan.FromMinutes(1).ToString();
    }
}

/// <summary>
/// Stands between a client's connection and its callback program and spoils the next <c>count</c> CB_COMPOUND
/// replies with <c>spoil</c> (the CB_COMPOUND4res bytes in, the bytes sent out): a client that answers wrongly at the
/// XDR level, which the client library itself never does. CB_NULL passes untouched. Installed on the session's
/// current connection only (<see cref="Nfs4Session.ReconnectAsync"/> makes a new one without it).
/// </summary>
internal sealed class SpoiledCallbackReplies(IRpcCallHandler inner, int count, Func<byte[], byte[]> spoil) : IRpcCallHandler
{
    private const uint ProcCompound = 1;
    private readonly int _count = count;
    private int _remaining = count;

    /// <summary>CB_COMPOUND replies spoiled so far.</summary>
    public int Spoiled => _count - Math.Max(0, Volatile.Read(ref _remaining));

    public static SpoiledCallbackReplies Install(Nfs4Session session, int count, Func<byte[], byte[]> spoil)
    {
        var spoiled = new SpoiledCallbackReplies(session.Rpc.CallHandler!, count, spoil);
        session.Rpc.CallHandler = spoiled;
        return spoiled;
    }

    public async ValueTask<RpcCallReply> HandleCallAsync(RpcIncomingCall call, CancellationToken cancellationToken)
    {
        var reply = await inner.HandleCallAsync(call, cancellationToken);
        if (call.Procedure != ProcCompound || reply.Status != AcceptStat.Success || Interlocked.Decrement(ref _remaining) < 0)
            return reply;
        return RpcCallReply.Success(spoil(reply.Results.ToArray()));
    }

    /// <summary>Cut short in the middle of the tag: no decoder can make a CB_COMPOUND4res of it.</summary>
    public static byte[] Truncated(byte[] reply) => reply[..6];

    /// <summary>CB_SEQUENCE4resok echoing csr_slotid + 1 instead of the slot the server used.</summary>
    public static byte[] WrongSlot(byte[] reply)
    {
        // status, tag<>, resarray count, CB_SEQUENCE opcode, its status, sessionid[16], sequenceid, slotid...
        int tagLength = (int)BinaryPrimitives.ReadUInt32BigEndian(reply.AsSpan(4));
        int slotAt = 8 + ((tagLength + 3) & ~3) + 4 + 4 + 4 + 16 + 4;
        var copy = (byte[])reply.Clone();
        BinaryPrimitives.WriteUInt32BigEndian(copy.AsSpan(slotAt), BinaryPrimitives.ReadUInt32BigEndian(copy.AsSpan(slotAt)) + 1);
        return copy;
    }
}

/// <summary>Completes when <c>count</c> participants have arrived: proves that many callbacks were in flight at once.</summary>
internal sealed class Rendezvous(int count)
{
    private readonly TaskCompletionSource _all = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _arrived;

    public Task All => _all.Task;

    public int Arrived => Volatile.Read(ref _arrived);

    /// <summary>Arrives, then waits (asynchronously, until <paramref name="cancellationToken"/>) for everyone else.</summary>
    public Task ArriveAndWaitAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Increment(ref _arrived) == count)
            _all.TrySetResult();
        return _all.Task.WaitAsync(cancellationToken);
    }
}
