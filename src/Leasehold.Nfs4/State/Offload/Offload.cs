using Leasehold.Export;
using Leasehold.Nfs4.Protocol;

namespace Leasehold.Nfs4.State.Offload;

/// <summary>
/// One asynchronous COPY (RFC 7862 §15.2.3, §4.8): its copy stateid, the client and destination it belongs to, the bytes
/// copied so far, and, once it is over, how it ended. Made by <see cref="OffloadTable.TryStart"/>; the copy itself runs
/// on its own thread (<see cref="Run"/>) and reports into it.
/// </summary>
internal sealed class Offload(StateId stateId, NfsClient client, FileHandle destination) : IDisposable
{
    private readonly CancellationTokenSource _cancel = new();
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<bool> _answered = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _copied;

    /// <summary>The copy stateid: COPY's wr_callback_id, what OFFLOAD_STATUS, OFFLOAD_CANCEL and CB_OFFLOAD name it by.</summary>
    public StateId StateId { get; } = stateId;

    public NfsClient Client { get; } = client;

    /// <summary>The destination file: COPY's CURRENT_FH, which OFFLOAD_STATUS and OFFLOAD_CANCEL must name too, and CB_OFFLOAD's coa_fh.</summary>
    public FileHandle Destination { get; } = destination;

    /// <summary>Bytes copied so far (updated after each chunk).</summary>
    public long Copied => Volatile.Read(ref _copied);

    /// <summary>Null while the copy runs; then its result (Ok with the count and stability, or an error).</summary>
    public FsResult<CopyOutcome>? Result { get; private set; }

    /// <summary>Set by OFFLOAD_CANCEL, a client going away, or the server stopping: the copy stops, and no CB_OFFLOAD is sent.</summary>
    public bool Cancelled => _cancel.IsCancellationRequested;

    public CancellationToken Token => _cancel.Token;

    /// <summary>Completes when the copy has passed its checks and the change gate (its first progress report).</summary>
    public Task Started => _started.Task;

    /// <summary>The copy's task: it ends once the copy has stopped, whatever the reason (set by <see cref="OffloadTable"/>).</summary>
    public Task Run { get; set; } = Task.CompletedTask;

    /// <summary>How COPY was answered: true with the copy stateid (a CB_OFFLOAD follows), false with the result itself.</summary>
    public Task<bool> AnsweredAsynchronously => _answered.Task;

    public void SetAnswered(bool asynchronously) => _answered.TrySetResult(asynchronously);

    public void Report(long copied)
    {
        Volatile.Write(ref _copied, copied);
        _started.TrySetResult();
    }

    public void Finish(FsResult<CopyOutcome> result)
    {
        if (result.IsOk)
            Volatile.Write(ref _copied, result.Value.Count);
        Result = result;
        _started.TrySetResult();
    }

    /// <summary>Frees the cancellation source once the copy has stopped and its CB_OFFLOAD is settled (<see cref="Cancelled"/> still answers).</summary>
    public void Dispose() => _cancel.Dispose();

    public void Cancel()
    {
        try
        {
            _cancel.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }
}
