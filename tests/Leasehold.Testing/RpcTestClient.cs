using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Leasehold.Rpc.Xdr;

namespace Leasehold.Testing;

/// <summary>
/// A raw ONC RPC client over TCP for tests: it sends whatever bytes a test builds (well-formed or not) with record
/// marking, and hands back reply records by xid. CALL records the server sends (its calls back to the client) go to
/// <see cref="Calls"/>. Every wait is bounded.
/// </summary>
public sealed class RpcTestClient : IAsyncDisposable
{
    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly ConcurrentDictionary<uint, TaskCompletionSource<byte[]>> _pending = new();
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly Channel<byte[]> _calls = Channel.CreateUnbounded<byte[]>();
    private readonly Task _reader;
    private uint _nextXid = 0x1000;

    private RpcTestClient(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _reader = Task.Run(ReadLoopAsync);
    }

    public static async Task<RpcTestClient> ConnectAsync(IPEndPoint server)
    {
        var socket = new Socket(server.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(server).WaitAsync(DefaultTimeout);
        return new RpcTestClient(socket);
    }

    /// <summary>Completes when the server closes the connection.</summary>
    public Task Closed => _closed.Task;

    /// <summary>CALL records (msg_type 0) the server sent on this connection, whole, in arrival order.</summary>
    public ChannelReader<byte[]> Calls => _calls.Reader;

    /// <summary>The next CALL the server sends, within the default bound.</summary>
    public async Task<byte[]> NextCallAsync() => await _calls.Reader.ReadAsync().AsTask().WaitAsync(DefaultTimeout);

    public uint NextXid() => Interlocked.Increment(ref _nextXid);

    /// <summary>Builds a CALL header (RFC 5531 §9) with AUTH_NONE or the given credential, then the arguments.</summary>
    public static byte[] BuildCall(uint xid, uint program, uint version, uint procedure, Action<XdrWriter>? args = null,
        uint rpcVersion = 2, uint credFlavor = 0, byte[]? credBody = null)
    {
        using var w = new XdrWriter();
        w.WriteUInt32(xid);
        w.WriteUInt32(0); // CALL
        w.WriteUInt32(rpcVersion);
        w.WriteUInt32(program);
        w.WriteUInt32(version);
        w.WriteUInt32(procedure);
        w.WriteUInt32(credFlavor);
        w.WriteOpaque(credBody ?? []);
        w.WriteUInt32(0); // verifier: AUTH_NONE
        w.WriteOpaque([]);
        args?.Invoke(w);
        return w.WrittenSpan.ToArray();
    }

    /// <summary>The body of an AUTH_SYS credential.</summary>
    public static byte[] AuthSys(uint uid, uint gid, params uint[] groups)
    {
        using var w = new XdrWriter();
        w.WriteUInt32(0);
        w.WriteString("test-host");
        w.WriteUInt32(uid);
        w.WriteUInt32(gid);
        w.WriteUInt32((uint)groups.Length);
        foreach (var g in groups)
            w.WriteUInt32(g);
        return w.WrittenSpan.ToArray();
    }

    /// <summary>Sends a record (as one fragment) and waits for the reply with the same xid (the record's first word).</summary>
    public async Task<byte[]> CallAsync(byte[] record, TimeSpan? timeout = null)
    {
        uint xid = BinaryPrimitives.ReadUInt32BigEndian(record);
        var reply = Expect(xid);
        await SendRecordAsync(record);
        return await reply.WaitAsync(timeout ?? DefaultTimeout);
    }

    /// <summary>Registers interest in a reply before sending, for tests that send several calls first.</summary>
    public Task<byte[]> Expect(uint xid) =>
        _pending.GetOrAdd(xid, _ => new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    public async Task SendRecordAsync(byte[] payload)
    {
        var frame = new byte[4 + payload.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame, 0x8000_0000u | (uint)payload.Length);
        payload.CopyTo(frame, 4);
        await SendRawAsync(frame);
    }

    /// <summary>Sends bytes as they are: bad record marks, split fragments, garbage.</summary>
    public async Task SendRawAsync(ReadOnlyMemory<byte> bytes)
    {
        await _sendLock.WaitAsync();
        try
        {
            await _stream.WriteAsync(bytes).AsTask().WaitAsync(DefaultTimeout);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    private async Task ReadLoopAsync()
    {
        var header = new byte[4];
        try
        {
            while (true)
            {
                using var record = new MemoryStream();
                bool last;
                do
                {
                    await _stream.ReadExactlyAsync(header);
                    uint mark = BinaryPrimitives.ReadUInt32BigEndian(header);
                    last = (mark & 0x8000_0000u) != 0;
                    var fragment = new byte[mark & 0x7FFF_FFFFu];
                    await _stream.ReadExactlyAsync(fragment);
                    record.Write(fragment);
                }
                while (!last);
                var bytes = record.ToArray();
                uint xid = BinaryPrimitives.ReadUInt32BigEndian(bytes);
                if (bytes.Length >= 8 && BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(4)) == 0)
                {
                    _calls.Writer.TryWrite(bytes);
                    continue;
                }
                _pending.GetOrAdd(xid, _ => new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult(bytes);
            }
        }
        catch (Exception ex) when (ex is IOException or EndOfStreamException or ObjectDisposedException or SocketException)
        {
            _closed.TrySetResult();
            _calls.Writer.TryComplete();
            foreach (var pending in _pending.Values)
                pending.TrySetException(new IOException("The server closed the connection."));
        }
    }

    public async ValueTask DisposeAsync()
    {
        _socket.Shutdown(SocketShutdown.Both);
        await _stream.DisposeAsync();
        await _reader.WaitAsync(DefaultTimeout);
        _sendLock.Dispose();
    }
}
