using Leasehold.Nfs4.Protocol;

namespace Leasehold.Nfs4.Compound;

/// <summary>An operation's status and, when Ok, its result. Converts from a status, so <c>return NfsStat4.Delay;</c> reads well and costs no throw.</summary>
internal readonly record struct OpResult<T>(NfsStat4 Status, T? Value)
{
    public bool IsOk => Status == NfsStat4.Ok;

    public static implicit operator OpResult<T>(NfsStat4 status) => new(status, default);

    public static OpResult<T> Ok(T value) => new(NfsStat4.Ok, value);
}

/// <summary>For operations whose only result is a status.</summary>
internal readonly record struct Unit;
