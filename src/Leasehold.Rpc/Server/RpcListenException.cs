using System.Net;
using System.Net.Sockets;

namespace Leasehold.Rpc.Server;

/// <summary>
/// <see cref="RpcServer.Start"/> could not listen on <see cref="EndPoint"/>. The message is one line that names the
/// address and the reason ("Cannot listen on 127.0.0.1:2049: the address is already in use ..."), fit to print as it
/// is; <see cref="SocketError"/> says which failure it was. An <see cref="IOException"/>, with the
/// <see cref="SocketException"/> as its inner exception.
/// </summary>
public sealed class RpcListenException : IOException
{
    public RpcListenException(IPEndPoint endPoint, SocketException inner)
        : base($"Cannot listen on {endPoint}: {Describe(inner.SocketErrorCode, inner.Message)}", inner)
    {
        EndPoint = endPoint;
        SocketError = inner.SocketErrorCode;
    }

    public IPEndPoint EndPoint { get; }

    public SocketError SocketError { get; }

    private static string Describe(SocketError error, string fallback) => error switch
    {
        SocketError.AddressAlreadyInUse => "the address is already in use (another server, or another process, is listening there).",
        SocketError.AccessDenied => "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE).",
        SocketError.AddressNotAvailable => "no interface of this machine has that address.",
        SocketError.AddressFamilyNotSupported => "this machine does not support that address family.",
        _ => $"{fallback} ({error}).",
    };
}
