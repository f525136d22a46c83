namespace Leasehold.Nfs4.Client;

/// <summary>
/// The space operations of NFSv4.2 as one-call helpers on a session (PUTFH and the operation). The session must be of
/// minor version 2 (<see cref="Nfs4SessionOptions.MinorVersion"/>); a 4.1 session gets OP_ILLEGAL.
/// </summary>
public static class Nfs4SessionSpace
{
    public static async Task<NfsStat4> AllocateAsync(this Nfs4Session session, FileHandle fh, StateId stateId, ulong offset, ulong length,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(session);
        using var c = new CompoundBuilder("allocate").PutFh(fh).Allocate(stateId, offset, length);
        return (await session.CompoundAsync(c, cancellationToken).ConfigureAwait(false)).Status;
    }

    public static async Task<NfsStat4> DeallocateAsync(this Nfs4Session session, FileHandle fh, StateId stateId, ulong offset, ulong length,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(session);
        using var c = new CompoundBuilder("deallocate").PutFh(fh).Deallocate(stateId, offset, length);
        return (await session.CompoundAsync(c, cancellationToken).ConfigureAwait(false)).Status;
    }

    public static async Task<Nfs4Result<SeekResult>> SeekAsync(this Nfs4Session session, FileHandle fh, StateId stateId, ulong offset, DataContent what,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(session);
        using var c = new CompoundBuilder("seek").PutFh(fh).Seek(stateId, offset, what);
        var reply = await session.CompoundAsync(c, cancellationToken).ConfigureAwait(false);
        return Nfs4Result.From(reply, reply.Find<SeekResult>());
    }

    public static async Task<Nfs4Result<ReadPlusResult>> ReadPlusAsync(this Nfs4Session session, FileHandle fh, StateId stateId, ulong offset, uint count,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(session);
        using var c = new CompoundBuilder("read_plus").PutFh(fh).ReadPlus(stateId, offset, count);
        var reply = await session.CompoundAsync(c, cancellationToken).ConfigureAwait(false);
        return Nfs4Result.From(reply, reply.Find<ReadPlusResult>());
    }

    public static async Task<Nfs4Result<IoAdviseResult>> IoAdviseAsync(this Nfs4Session session, FileHandle fh, StateId stateId, ulong offset, ulong count,
        IoAdvice[] hints, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(session);
        using var c = new CompoundBuilder("io_advise").PutFh(fh).IoAdvise(stateId, offset, count, hints);
        var reply = await session.CompoundAsync(c, cancellationToken).ConfigureAwait(false);
        return Nfs4Result.From(reply, reply.Find<IoAdviseResult>());
    }
}
