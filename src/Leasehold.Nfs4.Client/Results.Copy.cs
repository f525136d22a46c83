namespace Leasehold.Nfs4.Client;

/// <summary>
/// COPY4res (RFC 7862 §15.2.2): on success, write_response4 (<see cref="CallbackId"/>, the copy stateid of an
/// asynchronous copy, or null when the copy was done and <see cref="Count"/> bytes were copied) and copy_requirements4;
/// for NFS4ERR_OFFLOAD_NO_REQS, the requirements the server could have met.
/// </summary>
public sealed record CopyResult(NfsStat4 Status, StateId? CallbackId, ulong Count, StableHow Committed, ulong Verifier, bool Consecutive, bool Synchronous)
    : OpResult(NfsOpcode.Copy, Status);

/// <summary>OFFLOAD_STATUS4resok (RFC 7862 §15.9.2): the bytes copied so far and, once the copy is over, its status.</summary>
public sealed record OffloadStatusResult(NfsStat4 Status, ulong Count, NfsStat4? Complete) : OpResult(NfsOpcode.OffloadStatus, Status);
