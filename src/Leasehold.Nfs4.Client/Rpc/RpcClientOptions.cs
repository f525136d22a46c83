namespace Leasehold.Nfs4.Client.Rpc;

/// <summary>Limits and timeouts of one <see cref="RpcClient"/>. Defaults carry their reasons.</summary>
public sealed class RpcClientOptions
{
    /// <summary>How long a call may wait for its reply before it fails with <see cref="TimeoutException"/>. 30 s: well past
    /// any loopback server's answer yet short enough that a wedged test fails instead of hanging (Linux's NFS timeo is 60 s).</summary>
    public TimeSpan CallTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long the TCP connect may take. 10 s: a loopback or LAN server answers in milliseconds.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The largest record accepted from the server: 4 MiB of READ data plus headers (1 MiB is Linux nfsd's usual max).</summary>
    public int MaxRecordSize { get; init; } = 4 * 1024 * 1024 + 64 * 1024;

    /// <summary>Fragments per record; a server sends one, a few at most.</summary>
    public int MaxFragmentsPerRecord { get; init; } = 1024;

    /// <summary>Where timeouts come from; tests pass a manual clock.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    public static RpcClientOptions Default { get; } = new();
}
