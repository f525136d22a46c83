using Leasehold.Nfs4.Client.Callbacks;
using Leasehold.Nfs4.Client.Rpc;

namespace Leasehold.Nfs4.Client;

/// <summary>How <see cref="Nfs4Session.ConnectAsync(System.Net.EndPoint, Leasehold.Rpc.Messages.RpcCredentials, Nfs4SessionOptions?, CancellationToken)"/> sets up a session. Defaults carry their reasons.</summary>
public sealed class Nfs4SessionOptions
{
    /// <summary>The minor version every COMPOUND of the session carries: 1 (RFC 8881, the default) or 2 (RFC 7862, for the NFSv4.2 operations).</summary>
    public uint MinorVersion { get; init; } = 1;

    /// <summary>Fore-channel slots asked for (the server may grant fewer): how many compounds may be in flight. 64, like Linux's default.</summary>
    public uint Slots { get; init; } = 64;

    /// <summary>ca_maxrequestsize / ca_maxresponsesize asked for: 1 MiB of data plus room for headers (Linux nfsd's default rsize/wsize).</summary>
    public uint MaxMessageSize { get; init; } = 1024 * 1024 + 8 * 1024;

    /// <summary>ca_maxoperations asked for: 16 covers every compound this client builds (Linux asks for 16 too).</summary>
    public uint MaxOperations { get; init; } = 16;

    /// <summary>Ask for the back channel on the session's connection (CREATE_SESSION4_FLAG_CONN_BACK_CHAN).</summary>
    public bool BackChannel { get; init; } = true;

    /// <summary>csa_cb_program: any number the client likes; 0x40000000 is NFS4_CALLBACK's traditional number.</summary>
    public uint CallbackProgram { get; init; } = 0x4000_0000;

    /// <summary>
    /// csa_sec_parms: the credentials the server should put on callbacks, in order of preference. Null means the
    /// session's own credentials when they are AUTH_SYS, else AUTH_NONE.
    /// </summary>
    public IReadOnlyList<Leasehold.Rpc.Messages.RpcCredentials>? CallbackSecurity { get; init; }

    /// <summary>Back-channel ca_maxrequests asked for: callbacks the server may have in flight at once. 1: a test client answers one at a time.</summary>
    public uint BackChannelSlots { get; init; } = 1;

    /// <summary>Back-channel ca_maxoperations asked for: CB_SEQUENCE plus the operations of one CB_COMPOUND. 8, as before.</summary>
    public uint BackChannelMaxOperations { get; init; } = 8;

    /// <summary>Who answers back-channel calls; null means a new <see cref="RecordingCallbackHandler"/>.</summary>
    public INfs4CallbackHandler? CallbackHandler { get; init; }

    /// <summary>co_ownerid: must differ between concurrent clients. Null means a fresh random one per session.</summary>
    public string? OwnerId { get; init; }

    /// <summary>Send RECLAIM_COMPLETE after CREATE_SESSION (§18.51), which a new client must before it may open files.</summary>
    public bool ReclaimComplete { get; init; } = true;

    /// <summary>Keep the lease alive with a SEQUENCE every lease_time/3 while the session lives (idle sessions only need it).</summary>
    public bool RenewLease { get; init; }

    /// <summary>Options for the session's connection.</summary>
    public RpcClientOptions Rpc { get; init; } = RpcClientOptions.Default;

    /// <summary>Where lease timers come from.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    public static Nfs4SessionOptions Default { get; } = new();
}
