using Leasehold.Export;

namespace Leasehold.Export.Tests;

/// <summary>A change gate that records every request and, when told to, refuses them.</summary>
public sealed class RecordingGate : IChangeGate
{
    private readonly List<(ulong FileId, ChangeKind Kind)> _calls = [];
    private readonly Lock _lock = new();

    /// <summary>The refusal to answer with; None lets changes through.</summary>
    public ChangeRefusal Refusal { get; set; }

    /// <summary>How many grants were handed out and not yet disposed.</summary>
    public int Outstanding { get; private set; }

    public IReadOnlyList<(ulong FileId, ChangeKind Kind)> Calls
    {
        get
        {
            lock (_lock)
                return [.. _calls];
        }
    }

    public void Clear()
    {
        lock (_lock)
            _calls.Clear();
    }

    public ValueTask<ChangeGrant> BeginAsync(ulong fileId, ChangeKind kind, ChangeContext context, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            _calls.Add((fileId, kind));
            if (Refusal != ChangeRefusal.None)
                return new(new ChangeGrant(Refusal, null));
            Outstanding++;
        }
        return new(new ChangeGrant(ChangeRefusal.None, new Release(this)));
    }

    private sealed class Release(RecordingGate gate) : IDisposable
    {
        public void Dispose()
        {
            lock (gate._lock)
                gate.Outstanding--;
        }
    }
}
