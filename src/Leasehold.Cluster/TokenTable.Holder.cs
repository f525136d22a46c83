using Etcdserverpb;
using Google.Protobuf;
using Leasehold.Engine;

namespace Leasehold.Cluster;

// The holder's side: requests in this node's inbox, lingering tokens, fences and rejoins.
internal sealed partial class TokenTable
{
    /// <summary>Handles every request already in the inbox (at start, and after a compaction); returns the revision read at.</summary>
    private async Task<long> ReadInboxAsync(CancellationToken ct)
    {
        var got = await _session.Connection.GetAsync(new RangeRequest { Key = _keys.Inbox, RangeEnd = ClusterKeys.RangeEnd(_keys.Inbox) }, ct).ConfigureAwait(false);
        foreach (var kv in got.Kvs)
            OnRequest(kv);
        return got.Header.Revision;
    }

    private void OnInboxEvent(Mvccpb.Event e)
    {
        if (e.Type == Mvccpb.Event.Types.EventType.Put)
            OnRequest(e.Kv);
    }

    private void OnRequest(Mvccpb.KeyValue kv)
    {
        if (_keys.TryParseInboxKey(kv.Key, out var file, out string requester) && ClusterKeys.TryParseRequest(kv.Value, out var rights, out var strength))
            _ = YieldAsync(file, requester, rights, strength, kv.Key, kv.ModRevision);
    }

    /// <summary>
    /// Gives up what conflicts with <paramref name="requester"/>'s request: for a Need, recalls the local grants that use
    /// those rights (the engine revokes what is not returned within <see cref="ClusterOptions.RecallTimeout"/>); for a
    /// Want, only rights nothing local uses. Then rewrites this node's keys (only while they are still under this
    /// node's lease) and deletes the request.
    /// </summary>
    private async Task YieldAsync(FileKey file, string requester, TokenRights rights, TokenStrength strength, ByteString request, long revision)
    {
        var engine = _engine;
        if (engine is null)
            return;
        var ct = _stop.Token;
        var entry = Enter(file);
        try
        {
            await entry.Gate.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                var view = await ReadFileAsync(file, ct).ConfigureAwait(false);
                var mine = view.MyToken | view.MyOpen; // an open claim alone (the short lease lost) counts too
                var local = engine.TokenRightsOf(file);
                var drop = (mine | local) & TokenRules.ConflictingWith(rights);
                if (drop != TokenRights.None)
                {
                    var kept = strength == TokenStrength.Need
                        ? await engine.RecallTokenRightsAsync(file, drop, Breaker(requester), _options.RecallTimeout, ct).ConfigureAwait(false)
                        : engine.YieldUnusedTokenRights(file, drop);
                    var given = drop & ~kept;
                    var after = mine & ~given;
                    // What this node may use from now on is what it publishes (the engine's cache can only lag behind it).
                    _history?.Record(file, after);
                    if (after != mine)
                        await PublishAsync(file, entry, mine, after, ct).ConfigureAwait(false);
                    Log.Yielded(_logger, file, given, requester, strength, after);
                }
                await _session.Connection.TxnAsync(new TxnRequest // unless the requester has asked again since
                {
                    Compare = { new Compare { Key = request, Target = Compare.Types.CompareTarget.Mod, Result = Compare.Types.CompareResult.Equal, ModRevision = revision } },
                    Success = { new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = request } } },
                }, ct).ConfigureAwait(false);
            }
            finally
            {
                entry.Gate.Release();
            }
        }
        catch (Exception) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            LogTokenWorkFailed(file, e); // the requester asks again
        }
        finally
        {
            Leave(entry);
        }
    }

    /// <summary>
    /// Writes this node's keys for <paramref name="file"/> as <paramref name="after"/> (deleting them for none), provided
    /// the token key still carries this node's short lease: a node whose lease is gone must not write anything back.
    /// Under the file's gate.
    /// </summary>
    private async Task PublishAsync(FileKey file, FileEntry entry, TokenRights before, TokenRights after, CancellationToken ct)
    {
        var txn = new TxnRequest
        {
            Compare =
            {
                new Compare
                {
                    Key = _keys.Token(file, _keys.Node), Target = Compare.Types.CompareTarget.Lease,
                    Result = Compare.Types.CompareResult.Equal, Lease = _session.ShortLease,
                },
            },
        };
        AddWrites(txn.Success, file, after, before & TokenRights.Open, 0);
        await _session.Connection.TxnAsync(txn, ct).ConfigureAwait(false);
        entry.Published = after;
    }

    /// <summary>The identity a recall for <paramref name="requester"/> breaks with: in <see cref="ClusterBreakerGroup"/>, so it owns nothing local.</summary>
    internal static Owner Breaker(string requester)
    {
        ulong hash = 14695981039346656037;
        foreach (char c in requester)
            hash = (hash ^ c) * 1099511628211;
        return new Owner(ClusterBreakerGroup, hash | 1);
    }

    // ================================================================ linger

    /// <summary>
    /// Every <see cref="ClusterOptions.TokenLinger"/>/2: files no acquisition touched for TokenLinger give back their unused
    /// rights — a file open now keeps only what its opens use; a file nothing has open keeps everything while the engine
    /// still tracks it (it was used within the engine's idle sweep interval, as a file opened and closed in a loop is), and
    /// gives everything back once the engine has let it go.
    /// </summary>
    private void Linger()
    {
        long now = _time.GetTimestamp();
        var linger = _options.TokenLinger;
        foreach (var (file, entry) in _files)
        {
            bool idle;
            lock (entry.Sync)
                idle = entry.Inflight is null && _time.GetElapsedTime(entry.Touched, now) >= linger;
            if (idle)
                _ = LingerAsync(file);
        }
    }

    private async Task LingerAsync(FileKey file)
    {
        var engine = _engine;
        if (engine is null)
            return;
        var ct = _stop.Token;
        var entry = Enter(file);
        bool retire = false;
        try
        {
            await entry.Gate.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                var mine = entry.Published;
                if (engine.TokenRightsOf(file) != TokenRights.None && engine.TokenRightsInUse(file) == TokenRights.None)
                    return; // used a moment ago: the engine keeps an idle file's state until its idle sweep, and so do we
                var kept = engine.YieldUnusedTokenRights(file, TokenRights.All);
                _history?.Record(file, mine & kept);
                if (mine != kept && (mine & ~kept) != TokenRights.None)
                    await PublishAsync(file, entry, mine, mine & kept, ct).ConfigureAwait(false);
                retire = entry.Published == TokenRights.None;
            }
            finally
            {
                entry.Gate.Release();
            }
        }
        catch (Exception) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            LogTokenWorkFailed(file, e);
        }
        finally
        {
            Leave(entry);
        }
        if (retire)
            TryRetire(file, entry);
    }

    /// <summary>Removes an entry that holds nothing and that nobody uses (it is recreated on the next acquisition).</summary>
    private void TryRetire(FileKey file, FileEntry entry)
    {
        lock (entry.Sync)
        {
            if (entry.Users != 0 || entry.Inflight is not null || entry.Published != TokenRights.None)
                return;
            entry.Retired = true;
        }
        _files.TryRemove(new KeyValuePair<FileKey, FileEntry>(file, entry));
    }

    // ================================================================ fences and rejoins

    public int Fence(TokenRights keep, TimeSpan maxBreakTime)
    {
        if (_engine is not { } engine)
            return 0;
        if (_history is null)
            return engine.FenceTokens(keep, maxBreakTime);
        // Before the fence takes them (a loss is recorded early), and from what the node published: a file whose engine
        // state was swept still counts what etcd says the node holds.
        foreach (var (file, entry) in _files)
            _history.Record(file, (entry.Published | engine.TokenRightsOf(file)) & keep);
        return engine.FenceTokens(keep, maxBreakTime);
    }

    /// <summary>
    /// After new leases: every file whose local opens still use R/W claims them again (a Need, which always succeeds
    /// while etcd answers, since open rights never conflict with each other); files with nothing in use lose their keys.
    /// </summary>
    public async Task<int> ReclaimAsync(CancellationToken ct)
    {
        var engine = _engine;
        if (engine is null)
            return 0;
        int claimed = 0;
        foreach (var file in _files.Keys)
        {
            var use = engine.TokenRightsInUse(file) & TokenRights.Open;
            if (use != TokenRights.None)
            {
                var answer = await AcquireAsync(file, use, TokenStrength.Need, wait: true, ct).ConfigureAwait(false);
                if (answer != TokenAnswer.Held)
                    throw new InvalidOperationException($"could not claim {use} on file {file} again: {answer}");
                claimed++;
            }
            else
            {
                var entered = Enter(file); // the entry may have been retired meanwhile: use the live one
                await entered.Gate.WaitAsync(ct).ConfigureAwait(false);
                try
                {
                    await _session.Connection.TxnAsync(new TxnRequest
                    {
                        Success =
                        {
                            new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = _keys.Token(file, _keys.Node) } },
                            new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = _keys.OpenClaim(file, _keys.Node) } },
                        },
                    }, ct).ConfigureAwait(false);
                    entered.Published = TokenRights.None;
                    _history?.Record(file, TokenRights.None);
                }
                finally
                {
                    entered.Gate.Release();
                    Leave(entered);
                }
            }
        }
        return claimed;
    }
}
