using Leasehold.Export;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Server;

namespace Leasehold.Nfs4.Compound;

/// <summary>
/// What one COMPOUND carries from operation to operation (RFC 8881 §16.2.3): the current and saved filehandles and
/// stateids, and, after SEQUENCE, the session, slot and client. Shared lookups live here so the operations do not
/// repeat them.
/// </summary>
internal sealed class CompoundContext(Nfs4Server server, RpcCall call, Caller caller, int operationCount, uint minorVersion = 1)
{
    /// <summary>The COMPOUND's minor version: 1 (RFC 8881) or 2 (RFC 7862).</summary>
    public uint MinorVersion { get; } = minorVersion;

    public Nfs4Server Server { get; } = server;

    public RpcCall Call { get; } = call;

    public Caller Caller { get; } = caller;

    public IExportedTree Tree => Server.Tree;

    public int OperationCount { get; } = operationCount;

    /// <summary>Index of the operation being run.</summary>
    public int OperationIndex { get; set; }

    public FileHandle? CurrentFh { get; set; }

    public FileHandle? SavedFh { get; set; }

    public StateId CurrentStateId { get; set; } = StateId.Invalid;

    public StateId SavedStateId { get; set; } = StateId.Invalid;

    public Session? Session { get; set; }

    public Slot? Slot { get; set; }

    public NfsClient? Client => Session?.Client;

    /// <summary>Set by SEQUENCE when the request is a retransmission answered from the slot's cache.</summary>
    public byte[]? ReplayReply { get; set; }

    /// <summary>Whether the client asked for this reply to be cached (sa_cachethis).</summary>
    public bool CacheThis { get; set; }

    /// <summary>Who is changing files, for the export's change gate: the client, so its own grants are spared; never blocking.</summary>
    public ChangeContext ChangeContext => new(Client?.ClientId ?? 0, 0, NonBlocking: true);

    /// <summary>The current filehandle, or NFS4ERR_NOFILEHANDLE.</summary>
    public bool TryGetCurrentFh(out FileHandle handle, out NfsStat4 status)
    {
        if (CurrentFh is { } fh)
        {
            handle = fh;
            status = NfsStat4.Ok;
            return true;
        }
        handle = default;
        status = NfsStat4.NoFileHandle;
        return false;
    }

    /// <summary>Resolves the special "current stateid" (seqid 1, other 0; §16.2.3.1.2) to the one the previous operation set.</summary>
    public StateId Resolve(StateId stateId) => stateId.IsCurrent ? CurrentStateId : stateId;
}
