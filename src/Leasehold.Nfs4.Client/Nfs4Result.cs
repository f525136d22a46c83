namespace Leasehold.Nfs4.Client;

/// <summary>
/// A status and, when it is OK, a value. <see cref="FailedOp"/> names the operation that failed. Converts from a
/// status, so a helper can <c>return reply.Status</c>.
/// </summary>
public readonly record struct Nfs4Result<T>(NfsStat4 Status, T? Value, NfsOpcode? FailedOp = null)
{
    public bool IsOk => Status == NfsStat4.Ok;

    /// <summary>The value; throws <see cref="Nfs4StatusException"/> when the status is not OK (for tests and setup code).</summary>
    public T ValueOrThrow() =>
        IsOk && Value is not null ? Value : throw new Nfs4StatusException(Status, FailedOp);

    public static implicit operator Nfs4Result<T>(NfsStat4 status) => new(status, default);

    public override string ToString() => IsOk ? $"OK {Value}" : $"{Status} at {FailedOp}";
}

public static class Nfs4Result
{
    /// <summary>OK with <paramref name="value"/> when the compound succeeded, else its status and failed op.</summary>
    public static Nfs4Result<T> From<T>(CompoundReply reply, T? value)
    {
        ArgumentNullException.ThrowIfNull(reply);
        return reply.IsOk ? new(NfsStat4.Ok, value) : new(reply.Status, default, reply.Failed?.Op);
    }
}

/// <summary>Thrown only by <see cref="Nfs4Result{T}.ValueOrThrow"/> and <see cref="Nfs4Extensions.ThrowIfFailed"/>, which callers choose.</summary>
public sealed class Nfs4StatusException(NfsStat4 status, NfsOpcode? op)
    : Exception(op is null ? $"NFS status {status}" : $"NFS status {status} from {op}")
{
    public NfsStat4 Status { get; } = status;

    public NfsOpcode? Op { get; } = op;
}

public static class Nfs4Extensions
{
    /// <summary>Throws <see cref="Nfs4StatusException"/> unless the status is OK; returns the reply for chaining.</summary>
    public static CompoundReply ThrowIfFailed(this CompoundReply reply)
    {
        ArgumentNullException.ThrowIfNull(reply);
        return reply.IsOk ? reply : throw new Nfs4StatusException(reply.Status, reply.Failed?.Op);
    }
}
