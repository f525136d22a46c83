using System.Collections.Concurrent;
using Etcdserverpb;
using Google.Protobuf;
using Leasehold.Engine;
using Microsoft.Extensions.Logging;

namespace Leasehold.Cluster;

/// <summary>
/// This node's side of the per-file token protocol (docs/architecture.md "Cluster"): acquiring rights by
/// compare-and-swap on the file's key range, asking holders through their inbox, giving rights back when asked
/// (TokenTable.Holder.cs), and giving idle tokens back after <see cref="ClusterOptions.TokenLinger"/>.
/// </summary>
/// <remarks>
/// <para>Per file, one <see cref="FileEntry"/>: its <c>Gate</c> (a semaphore) serialises every read-decide-write on the
/// file's keys by this node — an acquisition attempt, a yield to another node, a linger, a reclaim — so what the node
/// writes to etcd and sets on the engine never interleaves. No attempt waits for another node while it holds the gate:
/// a contended acquisition puts its inbox requests, lets the gate go, and waits for a change on the file.</para>
/// <para>Acquisitions are deduplicated: a request that an acquisition in flight already covers (same or fewer rights,
/// Need covers Want) joins it instead of starting another. <c>Sync</c> guards the in-flight record and the change
/// signal; it is a plain lock, never held across an await.</para>
/// </remarks>
internal sealed partial class TokenTable : IFileTokens, ISessionListener, IAsyncDisposable
{
    /// <summary>The <see cref="Owner.Group"/> of the breaker a recall for another node uses: no NFS client id is this.</summary>
    public const ulong ClusterBreakerGroup = 0xFFFF_FFFF_FFFF_FF11;

    private static readonly TimeSpan Poll = TimeSpan.FromSeconds(1);

    /// <summary>How often a Want looks whether the holders it asked have answered.</summary>
    private static readonly TimeSpan WantCheck = TimeSpan.FromMilliseconds(10);

    private readonly EtcdSession _session;
    private readonly ClusterKeys _keys;
    private readonly ClusterOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly TokenHistory? _history;
    private readonly ConcurrentDictionary<FileKey, FileEntry> _files = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _loops = [];
    private ITimer? _lingerTimer;
    private LeaseEngine? _engine;
    private long _acquisitions;

    public TokenTable(EtcdSession session, ClusterOptions options, TimeProvider time, ILogger logger)
    {
        _session = session;
        _keys = session.Keys;
        _options = options;
        _time = time;
        _logger = logger;
        _history = TokenHistory.Open(options);
    }

    /// <summary>Token writes etcd accepted (compare-and-swap transactions that granted rights).</summary>
    public long Acquisitions => Interlocked.Read(ref _acquisitions);

    /// <summary>Files this node has token state for.</summary>
    public int TrackedFiles => _files.Count;

    /// <summary>Starts serving: the inbox and file watches and the linger sweep. Before this every acquisition is refused.</summary>
    public void Bind(LeaseEngine engine)
    {
        if (Interlocked.CompareExchange(ref _engine, engine, null) is not null)
            throw new InvalidOperationException("the cluster is already bound to an engine");
        var inbox = new ClusterWatch(_session.Connection, _keys.Inbox, ReadInboxAsync, OnInboxEvent, _logger);
        var files = new ClusterWatch(_session.Connection, _keys.Files, ct => CurrentRevisionAsync(ct), OnFileEvent, _logger);
        lock (_loops)
        {
            _loops.Add(Task.Run(() => inbox.RunAsync(_stop.Token)));
            _loops.Add(Task.Run(() => files.RunAsync(_stop.Token)));
        }
        var sweep = _options.TokenLinger / 2;
        _lingerTimer = _time.CreateTimer(_ => Linger(), null, sweep, sweep);
    }

    // ================================================================ acquiring

    public ValueTask<TokenAnswer> AcquireAsync(FileKey file, TokenRights rights, TokenStrength strength, bool wait, CancellationToken cancellationToken)
    {
        if (_engine is null || _stop.IsCancellationRequested || rights == TokenRights.None)
            return new(rights == TokenRights.None ? TokenAnswer.Held : TokenAnswer.Refused);
        if (strength == TokenStrength.Want && _session.IsFenced)
            return new(TokenAnswer.Refused);
        var entry = Enter(file);
        Acquisition acquisition;
        bool start = false;
        lock (entry.Sync)
        {
            entry.Touched = _time.GetTimestamp();
            if (entry.Inflight is { } current && (current.Rights & rights) == rights && (current.Strength == TokenStrength.Need || strength == TokenStrength.Want))
            {
                acquisition = current;
            }
            else
            {
                acquisition = new Acquisition(rights, strength);
                entry.Inflight = acquisition;
                start = true;
            }
        }
        if (start)
            _ = RunAsync(file, entry, acquisition);
        else
            Leave(entry);
        return AnswerAsync(acquisition, wait, cancellationToken);
    }

    private static async ValueTask<TokenAnswer> AnswerAsync(Acquisition acquisition, bool wait, CancellationToken ct)
    {
        var done = acquisition.Done.Task;
        if (wait)
            return await done.WaitAsync(ct).ConfigureAwait(false);
        await Task.WhenAny(done, acquisition.Contended.Task).WaitAsync(ct).ConfigureAwait(false);
        return done.IsCompleted ? await done.ConfigureAwait(false) : TokenAnswer.Contended;
    }

    private async Task RunAsync(FileKey file, FileEntry entry, Acquisition acquisition)
    {
        var answer = TokenAnswer.Refused;
        try
        {
            answer = await AcquireLoopAsync(file, entry, acquisition, _stop.Token).ConfigureAwait(false);
        }
        catch (Exception) when (_stop.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            // etcd unreachable or refusing (a lease gone), or the engine disposed: the caller hears Refused and asks again later.
            LogTokenWorkFailed(file, e);
        }
        finally
        {
            lock (entry.Sync)
            {
                if (entry.Inflight == acquisition)
                    entry.Inflight = null;
            }
            acquisition.Done.TrySetResult(answer);
            Leave(entry);
        }
    }

    /// <summary>Attempts until held; between attempts, asks the holders in the way and waits for the file's keys to change.</summary>
    private async Task<TokenAnswer> AcquireLoopAsync(FileKey file, FileEntry entry, Acquisition acquisition, CancellationToken ct)
    {
        var patience = acquisition.Strength == TokenStrength.Want ? _options.WantTimeout : _options.RecallTimeout + 2 * _session.Ttl + TimeSpan.FromSeconds(5);
        long start = _time.GetTimestamp();
        var asked = new Dictionary<string, long>(StringComparer.Ordinal); // holder -> revision of our request
        long lastAsk = 0;
        bool answered = false; // a Want's holders have each taken its request out of their inbox
        try
        {
            for (int fences = 0; ; )
            {
                Task changed;
                lock (entry.Sync)
                    changed = entry.Changed.Task; // taken before the read, so a change after it wakes us
                var outcome = await AttemptAsync(file, entry, acquisition.Rights, acquisition.Strength, ct).ConfigureAwait(false);
                if (outcome.Answer == TokenAnswer.Held)
                    return TokenAnswer.Held;
                if (outcome.Answer == TokenAnswer.Refused)
                {
                    if (++fences > 3 || _session.IsFenced && acquisition.Strength == TokenStrength.Want)
                        return TokenAnswer.Refused;
                    continue; // a fence raced with the attempt: once more under the new generation
                }
                if (acquisition.Strength == TokenStrength.Want && (_session.IsFenced || answered))
                    return TokenAnswer.Refused; // the holders read the request and kept what conflicts: it is in use
                bool askAgain = _time.GetElapsedTime(lastAsk) >= Poll;
                foreach (string holder in outcome.Holders)
                {
                    if (!asked.ContainsKey(holder) || askAgain)
                        asked[holder] = await AskAsync(holder, file, acquisition.Rights, acquisition.Strength, ct).ConfigureAwait(false);
                }
                if (askAgain || lastAsk == 0)
                    lastAsk = _time.GetTimestamp();
                acquisition.Contended.TrySetResult();
                var left = patience - _time.GetElapsedTime(start);
                if (left <= TimeSpan.Zero)
                    return TokenAnswer.Refused;
                // A Need waits for the holders' keys to change. A Want also looks, every few milliseconds, whether the holders
                // have answered without changing anything (what conflicts is in use), so it is refused at once instead of
                // after the whole WantTimeout.
                var step = acquisition.Strength == TokenStrength.Want ? WantCheck : Poll;
                using (var nap = CancellationTokenSource.CreateLinkedTokenSource(ct))
                {
                    var napping = Task.Delay(left < step ? left : step, _time, nap.Token);
                    await Task.WhenAny(changed, napping).ConfigureAwait(false);
                    await nap.CancelAsync().ConfigureAwait(false);
                }
                ct.ThrowIfCancellationRequested();
                if (acquisition.Strength == TokenStrength.Want && !changed.IsCompleted)
                    answered = await AsksAnsweredAsync(file, asked.Keys, ct).ConfigureAwait(false);
            }
        }
        finally
        {
            foreach (var (holder, revision) in asked)
                _ = ForgetAskAsync(holder, file, revision);
        }
    }

    /// <summary>
    /// A failed acquisition, yield or linger: a warning while the node is in the cluster, a debug line while it is cut
    /// off from etcd (6010/6011 have said so, and every refused request would otherwise add a warning).
    /// </summary>
    private void LogTokenWorkFailed(FileKey file, Exception e)
    {
        if (_session.IsFenced)
            Log.TokenWorkFailedWhileFenced(_logger, file, EtcdSession.OneLine(e.Message));
        else
            Log.TokenWorkFailed(_logger, file, EtcdSession.OneLine(e.Message));
    }

    /// <summary>Whether every holder asked has taken this node's request for <paramref name="file"/> out of its inbox (it deletes a request once it has answered it).</summary>
    private async Task<bool> AsksAnsweredAsync(FileKey file, IEnumerable<string> holders, CancellationToken ct)
    {
        foreach (string holder in holders)
        {
            var got = await _session.Connection.GetAsync(new RangeRequest { Key = _keys.InboxEntry(holder, file, _keys.Node), CountOnly = true }, ct).ConfigureAwait(false);
            if (got.Count != 0)
                return false;
        }
        return true;
    }

    private readonly record struct Outcome(TokenAnswer Answer, IReadOnlyList<string> Holders);

    /// <summary>
    /// One read-decide-write under the file's gate: read the file's keys at revision R; if another node holds rights
    /// that conflict with <paramref name="rights"/>, answer who (Contended); otherwise write this node's token — every
    /// right nobody else's conflicts with — by a transaction that fails if any key of the file changed after R, and set
    /// it on the engine with the generation read before the read (Held). Refused when a fence came in between.
    /// </summary>
    private async Task<Outcome> AttemptAsync(FileKey file, FileEntry entry, TokenRights rights, TokenStrength strength, CancellationToken ct)
    {
        var engine = _engine!;
        await entry.Gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            while (true)
            {
                long generation = engine.TokenGeneration;
                var view = await ReadFileAsync(file, ct).ConfigureAwait(false);
                var holders = view.Others.Where(o => TokenRules.Conflict(rights, o.Value)).Select(o => o.Key).ToList();
                if (holders.Count > 0)
                    return new(TokenAnswer.Contended, holders);
                bool fenced = _session.IsFenced;
                var take = fenced ? rights | (view.MyToken & TokenRights.Open) : TokenRules.Greedy(view.OthersUnion);
                if (fenced && strength == TokenStrength.Want)
                    return new(TokenAnswer.Refused, []);
                bool current = (view.MyToken & rights) == rights && view.MyTokenLease == _session.ShortLease &&
                    (view.MyToken & TokenRights.Open) == view.MyOpen && (view.MyOpen == TokenRights.None || view.MyOpenLease == _session.LongLease);
                if (current)
                {
                    // Held in etcd already (the engine's state was swept, or a fence took it): no write. A fenced node takes back
                    // only open rights; its delegation rights come back once etcd answers again.
                    take = fenced ? view.MyToken & TokenRights.Open : view.MyToken;
                }
                else
                {
                    var txn = new TxnRequest
                    {
                        Compare =
                        {
                            new Compare
                            {
                                Key = _keys.FileRange(file), RangeEnd = ClusterKeys.RangeEnd(_keys.FileRange(file)),
                                Target = Compare.Types.CompareTarget.Mod, Result = Compare.Types.CompareResult.Less, ModRevision = view.Revision + 1,
                            },
                        },
                    };
                    AddWrites(txn.Success, file, take, view.MyOpen, view.MyOpenLease);
                    var answer = await _session.Connection.TxnAsync(txn, ct).ConfigureAwait(false);
                    if (!answer.Succeeded)
                        continue; // a key of the file changed since the read: read again
                    Interlocked.Increment(ref _acquisitions);
                }
                if (!engine.SetTokenRights(file, take, generation))
                    return new(TokenAnswer.Refused, []);
                entry.Published = take;
                _history?.Record(file, take);
                return new(TokenAnswer.Held, []);
            }
        }
        finally
        {
            entry.Gate.Release();
        }
    }

    /// <summary>The puts (or deletes) that make this node's keys say <paramref name="rights"/>: the token with the short lease, its R/W bits with the long one.</summary>
    private void AddWrites(Google.Protobuf.Collections.RepeatedField<RequestOp> ops, FileKey file, TokenRights rights, TokenRights openNow, long openLease)
    {
        var tok = _keys.Token(file, _keys.Node);
        var open = _keys.OpenClaim(file, _keys.Node);
        ops.Add(rights == TokenRights.None
            ? new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = tok } }
            : new RequestOp { RequestPut = new PutRequest { Key = tok, Value = ClusterKeys.Rights(rights), Lease = _session.ShortLease } });
        var openRights = rights & TokenRights.Open;
        if (openRights == TokenRights.None && openNow != TokenRights.None)
            ops.Add(new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = open } });
        else if (openRights != TokenRights.None && (openRights != openNow || openLease != _session.LongLease))
            ops.Add(new RequestOp { RequestPut = new PutRequest { Key = open, Value = ClusterKeys.Rights(openRights), Lease = _session.LongLease } });
    }

    private sealed record FileView(long Revision, TokenRights MyToken, long MyTokenLease, TokenRights MyOpen, long MyOpenLease, Dictionary<string, TokenRights> Others)
    {
        public TokenRights OthersUnion => Others.Values.Aggregate(TokenRights.None, (a, b) => a | b);
    }

    /// <summary>The file's keys at one revision: this node's token and open claim, and every other node's rights (token | open claim).</summary>
    private async Task<FileView> ReadFileAsync(FileKey file, CancellationToken ct)
    {
        var range = _keys.FileRange(file);
        var got = await _session.Connection.GetAsync(new RangeRequest { Key = range, RangeEnd = ClusterKeys.RangeEnd(range) }, ct).ConfigureAwait(false);
        TokenRights myToken = TokenRights.None, myOpen = TokenRights.None;
        long myTokenLease = 0, myOpenLease = 0;
        var others = new Dictionary<string, TokenRights>(StringComparer.Ordinal);
        foreach (var kv in got.Kvs)
        {
            if (!_keys.TryParseFileKey(kv.Key, out _, out string kind, out string node))
                continue;
            var rights = ClusterKeys.ParseRights(kv.Value);
            if (node == _keys.Node)
            {
                if (kind == "tok")
                    (myToken, myTokenLease) = (rights, kv.Lease);
                else
                    (myOpen, myOpenLease) = (rights, kv.Lease);
            }
            else
            {
                others[node] = others.GetValueOrDefault(node) | rights;
            }
        }
        return new FileView(got.Header.Revision, myToken, myTokenLease, myOpen, myOpenLease, others);
    }

    /// <summary>Puts a request in <paramref name="holder"/>'s inbox, under this node's short lease (it goes if this node dies). Returns its revision.</summary>
    private async Task<long> AskAsync(string holder, FileKey file, TokenRights rights, TokenStrength strength, CancellationToken ct) =>
        (await _session.Connection.PutAsync(new PutRequest
        {
            Key = _keys.InboxEntry(holder, file, _keys.Node),
            Value = ClusterKeys.Request(rights, strength),
            Lease = _session.ShortLease,
        }, ct).ConfigureAwait(false)).Header.Revision;

    /// <summary>Deletes a request that is no longer needed, unless a later acquisition has put a new one at the same key since.</summary>
    private async Task ForgetAskAsync(string holder, FileKey file, long revision)
    {
        var key = _keys.InboxEntry(holder, file, _keys.Node);
        try
        {
            await _session.Connection.TxnAsync(new TxnRequest
            {
                Compare = { new Compare { Key = key, Target = Compare.Types.CompareTarget.Mod, Result = Compare.Types.CompareResult.Equal, ModRevision = revision } },
                Success = { new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = key } } },
            }, _stop.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is EtcdUnavailableException or Grpc.Core.RpcException or OperationCanceledException or ObjectDisposedException)
        {
            // the request goes with this node's lease at the latest; a holder finding nothing to give up just deletes it
        }
    }

    private async Task<long> CurrentRevisionAsync(CancellationToken ct)
    {
        var got = await _session.Connection.GetAsync(new RangeRequest { Key = _keys.Files, RangeEnd = ClusterKeys.RangeEnd(_keys.Files), CountOnly = true }, ct).ConfigureAwait(false);
        SignalAll(); // events may have been missed: every waiter reads again
        return got.Header.Revision;
    }

    private void OnFileEvent(Mvccpb.Event e)
    {
        if (_keys.TryParseFileKey(e.Kv.Key, out var file, out _, out string node) && node != _keys.Node && _files.TryGetValue(file, out var entry))
            Signal(entry);
    }

    private static void Signal(FileEntry entry)
    {
        TaskCompletionSource fired;
        lock (entry.Sync)
        {
            fired = entry.Changed;
            entry.Changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        fired.TrySetResult();
    }

    private void SignalAll()
    {
        foreach (var entry in _files.Values)
            Signal(entry);
    }

    // ================================================================ file entries

    /// <summary>
    /// The file's entry, counted as in use until <see cref="Leave"/>; an entry nobody uses, holding nothing, is retired
    /// (removed) by the linger sweep, and a retired entry is never handed out, so one file never has two gates.
    /// </summary>
    private FileEntry Enter(FileKey file)
    {
        while (true)
        {
            var entry = _files.GetOrAdd(file, static _ => new FileEntry());
            lock (entry.Sync)
            {
                if (!entry.Retired)
                {
                    entry.Users++;
                    return entry;
                }
            }
        }
    }

    private static void Leave(FileEntry entry)
    {
        lock (entry.Sync)
            entry.Users--;
    }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "SemaphoreSlim needs disposing only when its wait handle is used; Gate's never is.")]
    private sealed class FileEntry
    {
        public readonly SemaphoreSlim Gate = new(1, 1);
        public readonly Lock Sync = new();

        // Guarded by Sync.
        public Acquisition? Inflight;
        public TaskCompletionSource Changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public long Touched;
        public int Users;
        public bool Retired;

        // Written under Gate: the token this node last wrote for the file (None once deleted).
        public volatile TokenRights Published;
    }

    private sealed class Acquisition(TokenRights rights, TokenStrength strength)
    {
        public TokenRights Rights { get; } = rights;
        public TokenStrength Strength { get; } = strength;
        public TaskCompletionSource<TokenAnswer> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource Contended { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_lingerTimer is not null)
            await _lingerTimer.DisposeAsync().ConfigureAwait(false);
        Task[] loops;
        lock (_loops)
            loops = [.. _loops];
        try
        {
            await Task.WhenAll(loops).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        _history?.Dispose();
    }
}
