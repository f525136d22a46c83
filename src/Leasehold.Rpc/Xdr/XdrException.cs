using System.Diagnostics.CodeAnalysis;

namespace Leasehold.Rpc.Xdr;

/// <summary>
/// Malformed XDR: a truncated item, a length over its limit, a bad discriminant. Thrown by <see cref="XdrReader"/> and
/// caught once per call: the NFS layer answers NFS4ERR_BADXDR for a bad operation argument, the RPC layer answers
/// GARBAGE_ARGS when the call itself cannot be decoded.
/// </summary>
public sealed class XdrException(string message) : Exception(message)
{
    [DoesNotReturn]
    public static void ThrowTruncated() => throw new XdrException("XDR item runs past the end of the record.");

    [DoesNotReturn]
    public static void ThrowTooLong(uint length, int max) =>
        throw new XdrException($"XDR length {length} exceeds the limit of {max}.");

    [DoesNotReturn]
    public static void Throw(string message) => throw new XdrException(message);
}
