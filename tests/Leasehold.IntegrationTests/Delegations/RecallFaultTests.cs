using System.Collections.Concurrent;
using Leasehold.Nfs4.Client;
using Leasehold.Nfs4.Client.Callbacks;
using Leasehold.Nfs4.Client.Rpc;
using Microsoft.Extensions.Logging;

namespace Leasehold.IntegrationTests.Delegations;

/// <summary>
/// Recalls that go wrong (RFC 8881 §20.9.3, §2.10.6.2, §10.2; knfsd's nfsd4_cb_sequence_done and nfsd4_cb_recall_done):
/// a CB_SEQUENCE or CB_RECALL answered with an error, a back connection closed mid-recall, a malformed or misechoed
/// reply, a thousand recalls at once, and a client that vanishes with a thousand delegations. Each ends with the
/// recall delivered and the conflicting operation through, or with the lease-time revocation: never a hung
/// operation, a leaked slot or grant.
/// </summary>
public sealed class RecallFaultTests(RecallFaultServerFixture fx) : IClassFixture<RecallFaultServerFixture>
{
    private const uint CbPathDown = 0x1, RecallableStateRevoked = 0x40, BackchannelFault = 0x400;
    private const uint CallbackProgram = 0x4000_0000;

    private static readonly TimeSpan RetryDelay = RecallFaultServerFixture.RetryDelay;

    internal sealed record Client(Nfs4Session Session, RecordingCallbackHandler Handler) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => Session.DisposeAsync();
    }

    private async Task<Client> ConnectAsync(uint backSlots = 1)
    {
        var handler = new RecordingCallbackHandler();
        var session = await fx.ConnectAsync(options: new Nfs4SessionOptions { CallbackHandler = handler, BackChannelSlots = backSlots });
        return new Client(session, handler);
    }

    /// <summary><paramref name="count"/> files with content, made on disk in a new directory of the export; the directory's handle and the names.</summary>
    private async Task<(FileHandle Directory, string[] Names)> NewFilesAsync(int count)
    {
        string dir = ServerFixture.NewName("recall");
        Directory.CreateDirectory(Path.Join(fx.ExportPath, dir));
        var names = new string[count];
        for (int i = 0; i < count; i++)
        {
            names[i] = $"f{i}";
            await File.WriteAllTextAsync(Path.Join(fx.ExportPath, dir, names[i]), "hello");
        }
        return ((await fx.Session.LookupPathAsync(dir).Bounded()).ValueOrThrow(), names);
    }

    private static async Task<OpenedFile> HoldAsync(Client c, FileHandle dir, string name)
    {
        var opened = (await c.Session.OpenAsync(dir, name, ShareAccess.Read).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.Read, opened.Delegation.Type);
        return opened;
    }

    private static Task<NfsStat4> OpenForWriteAsync(Client writer, FileHandle dir, string name) =>
        writer.Session.OpenAsync(dir, name, ShareAccess.Write).ContinueWith(t => t.Result.Status, TaskScheduler.Default);

    /// <summary>Retries <paramref name="op"/> while it answers DELAY (as a client would), at most <see cref="Waits.Timeout"/>.</summary>
    private static async Task<NfsStat4> RetryWhileDelayAsync(Func<Task<NfsStat4>> op)
    {
        var deadline = DateTime.UtcNow + Waits.Timeout;
        while (true)
        {
            var status = await op().Bounded();
            if (status != NfsStat4.Delay || DateTime.UtcNow > deadline)
                return status;
            await Task.Delay(10);
        }
    }

    private static async Task<T> NextAsync<T>(System.Threading.Channels.ChannelReader<T> reader)
    {
        using var timeout = new CancellationTokenSource(Waits.Timeout);
        return await reader.ReadAsync(timeout.Token);
    }

    /// <summary>Whether <paramref name="condition"/> holds within <paramref name="within"/> of wall time (the server works asynchronously).</summary>
    private static async Task<bool> SoonAsync(Func<bool> condition, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                return false;
            await Task.Delay(5);
        }
        return true;
    }

    /// <summary>
    /// Moves the server's clock on in half retry delays, renewing <paramref name="alive"/> and the fixture's own
    /// session at every step, until <paramref name="condition"/> holds (given the server a moment of wall time at each
    /// step to act on the timers that fired). Fails after <see cref="Waits.Timeout"/> of wall time.
    /// </summary>
    private async Task AdvanceUntilAsync(Func<bool> condition, params Nfs4Session[] alive)
    {
        var deadline = DateTime.UtcNow + Waits.Timeout;
        while (!await SoonAsync(condition, TimeSpan.FromMilliseconds(100)))
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition never held");
            fx.Clock.Advance(RetryDelay / 2);
            await RenewAsync(alive);
        }
    }

    /// <summary>Moves the clock on by <paramref name="by"/> in steps under half a lease, renewing <paramref name="alive"/> and the fixture's session.</summary>
    private async Task AdvanceAsync(TimeSpan by, params Nfs4Session[] alive)
    {
        var step = fx.LeaseTime * 0.4;
        for (var left = by; left > TimeSpan.Zero; left -= step)
        {
            fx.Clock.Advance(left < step ? left : step);
            await RenewAsync(alive);
        }
    }

    private async Task RenewAsync(Nfs4Session[] alive)
    {
        foreach (var s in alive)
            Assert.Equal(NfsStat4.Ok, await s.RenewAsync().Bounded());
        Assert.Equal(NfsStat4.Ok, await fx.Session.RenewAsync().Bounded());
    }

    /// <summary>Sends SEQUENCEs until the status flags are <paramref name="expected"/> (the server learns of faults asynchronously).</summary>
    private static async Task WaitForFlagsAsync(Nfs4Session session, uint expected)
    {
        var deadline = DateTime.UtcNow + Waits.Timeout;
        while (true)
        {
            Assert.Equal(NfsStat4.Ok, await session.RenewAsync().Bounded());
            if (session.LastSequenceStatusFlags == expected)
                return;
            Assert.True(DateTime.UtcNow < deadline, $"SEQUENCE status flags stayed 0x{session.LastSequenceStatusFlags:x}, expected 0x{expected:x}");
            await Task.Delay(10);
        }
    }

    private static List<T> Drain<T>(System.Threading.Channels.ChannelReader<T> reader)
    {
        var items = new List<T>();
        while (reader.TryRead(out var item))
            items.Add(item);
        return items;
    }

    [Fact]
    public async Task RecallAnsweredWithErrorStillRevokesAtDeadline()
    {
        await using var holder = await ConnectAsync();
        await using var writer = await ConnectAsync();
        holder.Handler.RecallAnswer = (_, _) => ValueTask.FromResult(NfsStat4.ServerFault);
        var (dir, names) = await NewFilesAsync(1);
        var held = await HoldAsync(holder, dir, names[0]);

        Assert.Equal(NfsStat4.Delay, await OpenForWriteAsync(writer, dir, names[0]).Bounded());
        Assert.Equal(held.Delegation.StateId, (await NextAsync(holder.Handler.Recalls)).StateId);

        // An error that is not about the stateid ends the recall: it is not sent again, however long the wait...
        await AdvanceAsync(RetryDelay * 3, holder.Session, writer.Session);
        Assert.Equal(NfsStat4.Delay, await OpenForWriteAsync(writer, dir, names[0]).Bounded());
        Assert.Equal(1, holder.Handler.SequenceCount);

        // ...and the engine revokes the delegation one lease time after the recall: the writer proceeds.
        await AdvanceAsync(fx.LeaseTime, holder.Session, writer.Session);
        Assert.Equal(NfsStat4.Ok, await OpenForWriteAsync(writer, dir, names[0]).Bounded());
        await WaitForFlagsAsync(holder.Session, RecallableStateRevoked);
        Assert.Equal(NfsStat4.DelegRevoked, await holder.Session.DelegReturnAsync(held.FileHandle, held.Delegation.StateId).Bounded());
        Assert.Equal(1, holder.Handler.SequenceCount);
    }

    [Fact]
    public async Task CallbackFailuresAreOneWarningPerClientAMinute()
    {
        const int CallbackFailing = 4106;
        await using var holder = await ConnectAsync();
        await using var writer = await ConnectAsync();
        holder.Handler.RecallAnswer = (_, _) => ValueTask.FromResult(NfsStat4.ServerFault);
        var (dir, names) = await NewFilesAsync(3);
        foreach (string name in names)
            await HoldAsync(holder, dir, name);
        string client = $"{holder.Session.ClientId:x16}";
        List<LogEntry> Warnings() => [.. fx.Log.Entries.Where(e => e.EventId == CallbackFailing && e.Message.Contains(client, StringComparison.Ordinal))];

        Assert.Equal(NfsStat4.Delay, await OpenForWriteAsync(writer, dir, names[0]).Bounded());
        Assert.True(await SoonAsync(() => Warnings().Count == 1, Waits.Timeout));
        var first = Warnings()[0];
        Assert.Equal(LogLevel.Warning, first.Level);
        Assert.Contains("CB_RECALL answered ServerFault", first.Message, StringComparison.Ordinal);

        // A second failure within the minute is counted, not logged; the next one after the minute says so.
        Assert.Equal(NfsStat4.Delay, await OpenForWriteAsync(writer, dir, names[1]).Bounded());
        Assert.True(await SoonAsync(() => holder.Handler.SequenceCount == 2, Waits.Timeout));
        await AdvanceAsync(RecallSenderWarningInterval + TimeSpan.FromSeconds(1), holder.Session, writer.Session);
        Assert.Equal(NfsStat4.Delay, await OpenForWriteAsync(writer, dir, names[2]).Bounded());
        Assert.True(await SoonAsync(() => Warnings().Count == 2, Waits.Timeout));
        Assert.Contains("(1 more failures", Warnings()[1].Message, StringComparison.Ordinal);
    }

    /// <summary>The server's <c>RecallSender.WarningInterval</c> (internal to the server).</summary>
    private static readonly TimeSpan RecallSenderWarningInterval = TimeSpan.FromMinutes(1);

    [Fact]
    public async Task RecallOnClosedBackConnectionIsResentAfterBindConn()
    {
        await using var holder = await ConnectAsync();
        await using var writer = await ConnectAsync();
        int recalls = 0;
        // The first CB_RECALL reaches the holder, which never answers it: its connection closes under the call.
        holder.Handler.RecallAnswer = async (_, ct) =>
        {
            if (Interlocked.Increment(ref recalls) == 1)
                await Task.Delay(Timeout.Infinite, ct);
            return NfsStat4.Ok;
        };
        var (dir, names) = await NewFilesAsync(1);
        var held = await HoldAsync(holder, dir, names[0]);

        Assert.Equal(NfsStat4.Delay, await OpenForWriteAsync(writer, dir, names[0]).Bounded());
        Assert.Equal(held.Delegation.StateId, (await NextAsync(holder.Handler.Recalls)).StateId);
        await holder.Session.DropConnectionAsync();
        Assert.Equal(NfsStat4.Delay, await OpenForWriteAsync(writer, dir, names[0]).Bounded());

        // A new connection bound for both channels: the recall goes out again on it, without any clock moving.
        var bound = await holder.Session.ReconnectAsync(ChannelDirFromClient.BackOrBoth).Bounded();
        Assert.Equal(ChannelDirFromServer.Both, bound.Get<BindConnToSessionResult>().Direction);
        Assert.Equal(held.Delegation.StateId, (await NextAsync(holder.Handler.Recalls)).StateId);
        Assert.Equal(NfsStat4.Ok, await holder.Session.DelegReturnAsync(held.FileHandle, held.Delegation.StateId).Bounded());
        Assert.Equal(NfsStat4.Ok, await RetryWhileDelayAsync(() => OpenForWriteAsync(writer, dir, names[0])));

        // The unanswered call left its slot uncertain: the resend repeats its sequence id (§2.10.6.2).
        var sequences = Drain(holder.Handler.Events).OfType<CbSequenceEvent>().ToList();
        Assert.Equal(2, sequences.Count);
        Assert.Equal(sequences[0].SlotId, sequences[1].SlotId);
        Assert.Equal(sequences[0].SequenceId, sequences[1].SequenceId);
        Assert.Equal(2, recalls);
    }

    [Fact]
    public async Task MalformedCbReplyMarksBackchannelFault()
    {
        await using var holder = await ConnectAsync();
        await using var writer = await ConnectAsync();
        var (dir, names) = await NewFilesAsync(1);
        var held = await HoldAsync(holder, dir, names[0]);
        await WaitForFlagsAsync(holder.Session, 0);
        var spoiled = SpoiledCallbackReplies.Install(holder.Session, 1, SpoiledCallbackReplies.Truncated);

        Assert.Equal(NfsStat4.Delay, await OpenForWriteAsync(writer, dir, names[0]).Bounded());
        await NextAsync(holder.Handler.Recalls);
        await WaitForFlagsAsync(holder.Session, CbPathDown | BackchannelFault);
        Assert.Equal(1, spoiled.Spoiled);

        // BACKCHANNEL_CTL makes the server probe again; once the probe is answered the waiting recall goes out again.
        Assert.Equal(NfsStat4.Ok, await holder.Session.BackchannelCtlAsync(CallbackProgram, [RpcAuth.Root]).Bounded());
        Assert.Equal(held.Delegation.StateId, (await NextAsync(holder.Handler.Recalls)).StateId);
        await WaitForFlagsAsync(holder.Session, 0);
        Assert.Equal(NfsStat4.Ok, await holder.Session.DelegReturnAsync(held.FileHandle, held.Delegation.StateId).Bounded());
        Assert.Equal(NfsStat4.Ok, await RetryWhileDelayAsync(() => OpenForWriteAsync(writer, dir, names[0])));
    }

    [Fact]
    public async Task WrongSlotEchoIsFault()
    {
        await using var holder = await ConnectAsync();
        await using var writer = await ConnectAsync();
        var (dir, names) = await NewFilesAsync(1);
        var held = await HoldAsync(holder, dir, names[0]);
        await WaitForFlagsAsync(holder.Session, 0);
        SpoiledCallbackReplies.Install(holder.Session, 1, SpoiledCallbackReplies.WrongSlot);

        Assert.Equal(NfsStat4.Delay, await OpenForWriteAsync(writer, dir, names[0]).Bounded());
        await NextAsync(holder.Handler.Recalls);
        await WaitForFlagsAsync(holder.Session, CbPathDown | BackchannelFault);

        Assert.Equal(NfsStat4.Ok, await holder.Session.BackchannelCtlAsync(CallbackProgram, [RpcAuth.Root]).Bounded());
        Assert.Equal(held.Delegation.StateId, (await NextAsync(holder.Handler.Recalls)).StateId);
        Assert.Equal(NfsStat4.Ok, await holder.Session.DelegReturnAsync(held.FileHandle, held.Delegation.StateId).Bounded());
        Assert.Equal(NfsStat4.Ok, await RetryWhileDelayAsync(() => OpenForWriteAsync(writer, dir, names[0])));

        // A misechoed reply does not advance the slot: the resend carries the same sequence id on the same slot.
        var sequences = Drain(holder.Handler.Events).OfType<CbSequenceEvent>().ToList();
        Assert.Equal(2, sequences.Count);
        Assert.Equal((sequences[0].SlotId, sequences[0].SequenceId), (sequences[1].SlotId, sequences[1].SequenceId));
    }

    [Fact]
    public async Task CbSequenceDelayIsRetried()
    {
        await using var holder = await ConnectAsync();
        await using var writer = await ConnectAsync();
        var seen = new ConcurrentQueue<DateTimeOffset>();
        holder.Handler.SequenceAnswer = (_, _) =>
        {
            seen.Enqueue(fx.Clock.GetUtcNow());
            return ValueTask.FromResult(seen.Count == 1 ? NfsStat4.Delay : NfsStat4.Ok);
        };
        var (dir, names) = await NewFilesAsync(1);
        var held = await HoldAsync(holder, dir, names[0]);

        Assert.Equal(NfsStat4.Delay, await OpenForWriteAsync(writer, dir, names[0]).Bounded());
        await AdvanceUntilAsync(() => seen.Count >= 2, holder.Session, writer.Session);

        // Nothing after the DELAY until the retry delay passed on the server's clock; then the recall itself.
        var times = seen.ToArray();
        Assert.True(times[1] - times[0] >= RetryDelay, $"sent again after {times[1] - times[0]}");
        Assert.Equal(held.Delegation.StateId, (await NextAsync(holder.Handler.Recalls)).StateId);
        Assert.Equal(NfsStat4.Ok, await holder.Session.DelegReturnAsync(held.FileHandle, held.Delegation.StateId).Bounded());
        Assert.Equal(NfsStat4.Ok, await RetryWhileDelayAsync(() => OpenForWriteAsync(writer, dir, names[0])));
        Assert.Equal(2, seen.Count);
    }

    [Fact]
    public async Task MisorderedResetsSlotOnce()
    {
        await using var holder = await ConnectAsync();
        await using var writer = await ConnectAsync();
        var (dir, names) = await NewFilesAsync(3);
        var first = await HoldAsync(holder, dir, names[0]);
        var second = await HoldAsync(holder, dir, names[1]);
        var third = await HoldAsync(holder, dir, names[2]);

        // A first recall goes through, so the slot's sequence id is 1.
        Assert.Equal(NfsStat4.Delay, await OpenForWriteAsync(writer, dir, names[0]).Bounded());
        await NextAsync(holder.Handler.Recalls);
        Assert.Equal(NfsStat4.Ok, await holder.Session.DelegReturnAsync(first.FileHandle, first.Delegation.StateId).Bounded());

        // The holder claims the slot is misordered, twice: the server resets it to sequence id 1 and tries once more, at once.
        var sequences = new ConcurrentQueue<CbSequenceEvent>();
        holder.Handler.SequenceAnswer = (s, _) =>
        {
            sequences.Enqueue(s);
            return ValueTask.FromResult(sequences.Count <= 2 ? NfsStat4.SeqMisordered : NfsStat4.Ok);
        };
        Assert.Equal(NfsStat4.Delay, await OpenForWriteAsync(writer, dir, names[1]).Bounded());
        Assert.True(await SoonAsync(() => sequences.Count >= 2, Waits.Timeout));
        var tries = sequences.ToArray();
        Assert.Equal(2u, tries[0].SequenceId);
        Assert.Equal(1u, tries[1].SequenceId);
        Assert.Equal(tries[0].SlotId, tries[1].SlotId);

        // No third try for that recall: the next CB_COMPOUND on the slot is another file's recall (sequence id 1 again,
        // as the second misordered answer changed nothing).
        await AdvanceAsync(RetryDelay * 3, holder.Session, writer.Session);
        Assert.Equal(NfsStat4.Delay, await OpenForWriteAsync(writer, dir, names[2]).Bounded());
        Assert.Equal(third.Delegation.StateId, (await NextAsync(holder.Handler.Recalls)).StateId);
        Assert.Equal(3, sequences.Count);
        Assert.Equal(1u, sequences.ToArray()[2].SequenceId);
        Assert.Equal(NfsStat4.Ok, await holder.Session.DelegReturnAsync(third.FileHandle, third.Delegation.StateId).Bounded());

        // The recall that gave up is settled by the deadline.
        await AdvanceAsync(fx.LeaseTime, holder.Session, writer.Session);
        Assert.Equal(NfsStat4.Ok, await OpenForWriteAsync(writer, dir, names[1]).Bounded());
        await WaitForFlagsAsync(holder.Session, RecallableStateRevoked);
        Assert.Equal(NfsStat4.DelegRevoked, await holder.Session.DelegReturnAsync(second.FileHandle, second.Delegation.StateId).Bounded());
    }

    [Fact]
    public async Task RecallBadHandleIsRetriedTwice()
    {
        await using var holder = await ConnectAsync();
        await using var writer = await ConnectAsync();
        var (dir, names) = await NewFilesAsync(2);
        var held = await HoldAsync(holder, dir, names[0]);
        var other = await HoldAsync(holder, dir, names[1]);
        var times = new ConcurrentQueue<DateTimeOffset>();
        // The recall of the first file overtakes (so the holder thinks) the OPEN reply that granted it.
        holder.Handler.RecallAnswer = (r, _) =>
        {
            if (r.StateId != held.Delegation.StateId)
                return ValueTask.FromResult(NfsStat4.Ok);
            times.Enqueue(fx.Clock.GetUtcNow());
            return ValueTask.FromResult(NfsStat4.BadHandle);
        };

        Assert.Equal(NfsStat4.Delay, await OpenForWriteAsync(writer, dir, names[0]).Bounded());
        await AdvanceUntilAsync(() => times.Count >= 3, holder.Session, writer.Session);
        var at = times.ToArray();
        Assert.True(at[1] - at[0] >= RetryDelay && at[2] - at[1] >= RetryDelay, $"sent at {string.Join(", ", at)}");

        // Two retries and no more: after more retry delays, the other file's recall is the next thing on the slot.
        await AdvanceAsync(RetryDelay * 3, holder.Session, writer.Session);
        Assert.Equal(NfsStat4.Delay, await OpenForWriteAsync(writer, dir, names[1]).Bounded());
        while ((await NextAsync(holder.Handler.Recalls)).StateId != other.Delegation.StateId)
        {
        }
        Assert.Equal(3, times.Count);
        Assert.Equal(NfsStat4.Ok, await holder.Session.DelegReturnAsync(other.FileHandle, other.Delegation.StateId).Bounded());

        // The deadline revokes the first one; its writer proceeds.
        await AdvanceAsync(fx.LeaseTime, holder.Session, writer.Session);
        Assert.Equal(NfsStat4.Ok, await OpenForWriteAsync(writer, dir, names[0]).Bounded());
        Assert.Equal(3, times.Count);
    }

    [Fact]
    public async Task DelegReturnTwiceAndWithOtherClientsStateid()
    {
        await using var holder = await ConnectAsync();
        await using var writer = await ConnectAsync();
        var (dir, names) = await NewFilesAsync(1);
        var held = await HoldAsync(holder, dir, names[0]);
        var id = held.Delegation.StateId;
        Assert.Equal(NfsStat4.Delay, await OpenForWriteAsync(writer, dir, names[0]).Bounded());
        await NextAsync(holder.Handler.Recalls);

        // Another client's stateid (§8.2.4: BAD_STATEID) returns nothing: the writer still waits.
        Assert.Equal(NfsStat4.BadStateId, await writer.Session.DelegReturnAsync(held.FileHandle, id).Bounded());
        Assert.Equal(NfsStat4.Delay, await OpenForWriteAsync(writer, dir, names[0]).Bounded());
        // One from an earlier server instance (another boot verifier in "other"): STALE_STATEID.
        var stale = id with { Other = id.Other ^ (UInt128.One << 32) };
        Assert.Equal(NfsStat4.StaleStateId, await holder.Session.DelegReturnAsync(held.FileHandle, stale).Bounded());
        // A seqid other than the delegation's 1: BAD_STATEID.
        Assert.Equal(NfsStat4.BadStateId, await holder.Session.DelegReturnAsync(held.FileHandle, id with { SeqId = 2 }).Bounded());
        Assert.Equal(NfsStat4.Delay, await OpenForWriteAsync(writer, dir, names[0]).Bounded());

        Assert.Equal(NfsStat4.Ok, await holder.Session.DelegReturnAsync(held.FileHandle, id).Bounded());
        Assert.Equal(NfsStat4.BadStateId, await holder.Session.DelegReturnAsync(held.FileHandle, id).Bounded());
        Assert.Equal(NfsStat4.BadStateId, await writer.Session.DelegReturnAsync(held.FileHandle, id).Bounded());
        Assert.Equal(NfsStat4.Ok, await RetryWhileDelayAsync(() => OpenForWriteAsync(writer, dir, names[0])));
        Assert.DoesNotContain(fx.Engine.Snapshot().Grants, g => g.Holder.Group == holder.Session.ClientId && g.Kind == Leasehold.Engine.GrantKind.Delegation);
    }

    [Fact]
    public async Task RecallsForManyClientsGoOutConcurrently()
    {
        const int Holders = 20;
        await using var writer = await ConnectAsync();
        var (dir, names) = await NewFilesAsync(1);
        // Each holder answers its CB_RECALL only once every holder has one: recalls sent one after another would never get there.
        var everyone = new Rendezvous(Holders);
        var holders = new List<(Client Client, OpenedFile Held)>();
        try
        {
            for (int i = 0; i < Holders; i++)
            {
                var c = await ConnectAsync();
                c.Handler.RecallAnswer = async (_, ct) =>
                {
                    await everyone.ArriveAndWaitAsync(ct);
                    return NfsStat4.Ok;
                };
                holders.Add((c, await HoldAsync(c, dir, names[0])));
            }

            Assert.Equal(NfsStat4.Delay, await OpenForWriteAsync(writer, dir, names[0]).Bounded());
            await everyone.All.Bounded();
            await Task.WhenAll(holders.Select(async h =>
            {
                Assert.Equal(h.Held.Delegation.StateId, (await NextAsync(h.Client.Handler.Recalls)).StateId);
                Assert.Equal(NfsStat4.Ok, await h.Client.Session.DelegReturnAsync(h.Held.FileHandle, h.Held.Delegation.StateId).Bounded());
            }));
            Assert.Equal(NfsStat4.Ok, await RetryWhileDelayAsync(() => OpenForWriteAsync(writer, dir, names[0])));
        }
        finally
        {
            foreach (var (c, _) in holders)
                await c.DisposeAsync();
        }
    }

    [Fact]
    public async Task ThousandDelegationsOfOneClientAllRecalled()
    {
        const int Files = 1000, BackSlots = 16;
        await using var holder = await ConnectAsync(backSlots: BackSlots);
        await using var writer = await ConnectAsync();
        Assert.Equal((uint)BackSlots, holder.Session.BackChannel!.MaxRequests);
        var (dir, names) = await NewFilesAsync(Files);

        // The holder's side of the slot table: no slot used by two calls at once, never more calls than slots, and on
        // each slot the sequence ids 1, 2, 3... with none skipped or repeated.
        var busy = new int[BackSlots];
        var lastSequence = new uint[BackSlots];
        int inFlight = 0, maxInFlight = 0, misused = 0;
        holder.Handler.SequenceAnswer = async (s, ct) =>
        {
            int now = Interlocked.Increment(ref inFlight);
            InterlockedMax(ref maxInFlight, now);
            if (s.SlotId >= BackSlots || Interlocked.Exchange(ref busy[s.SlotId], 1) != 0)
                Interlocked.Increment(ref misused);
            else
            {
                if (s.SequenceId != lastSequence[s.SlotId] + 1)
                    Interlocked.Increment(ref misused);
                lastSequence[s.SlotId] = s.SequenceId;
                await Task.Delay(1, ct);
                Volatile.Write(ref busy[s.SlotId], 0);
            }
            Interlocked.Decrement(ref inFlight);
            return NfsStat4.Ok;
        };

        var held = new ConcurrentDictionary<StateId, OpenedFile>();
        await Parallel.ForEachAsync(names, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (name, _) =>
        {
            var opened = await HoldAsync(holder, dir, name);
            held[opened.Delegation.StateId] = opened;
        });
        Assert.Equal(Files, held.Count);

        // The writer opens every file: each answers DELAY at once and recalls its delegation.
        await Parallel.ForEachAsync(names, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (name, _) =>
            Assert.Equal(NfsStat4.Delay, await OpenForWriteAsync(writer, dir, name).Bounded()));

        // Every recall arrives and is answered; the holder returns each delegation as its recall comes.
        var returned = new ConcurrentDictionary<StateId, bool>();
        var returning = new List<Task>();
        for (int i = 0; i < Files; i++)
        {
            var recall = await NextAsync(holder.Handler.Recalls);
            Assert.True(held.TryGetValue(recall.StateId, out var opened), $"CB_RECALL of an unknown stateid {recall.StateId}");
            Assert.True(returned.TryAdd(recall.StateId, true), $"CB_RECALL of {recall.StateId} twice");
            returning.Add(Task.Run(async () =>
                Assert.Equal(NfsStat4.Ok, await holder.Session.DelegReturnAsync(opened!.FileHandle, recall.StateId).Bounded())));
        }
        await Task.WhenAll(returning).Bounded();

        await Parallel.ForEachAsync(names, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (name, _) =>
            Assert.Equal(NfsStat4.Ok, await RetryWhileDelayAsync(() => OpenForWriteAsync(writer, dir, name))));

        Assert.Equal(0, misused);
        Assert.Equal(Files, holder.Handler.SequenceCount);
        Assert.Equal(Files, lastSequence.Sum(s => (long)s));
        Assert.InRange(maxInFlight, 2, BackSlots);

        // No slot leaked: all sixteen still carry a call at once (each holds its CB_RECALL until all sixteen have arrived).
        var (more, moreNames) = await NewFilesAsync(BackSlots);
        var again = new List<OpenedFile>();
        foreach (string name in moreNames)
            again.Add(await HoldAsync(holder, more, name));
        var all = new Rendezvous(BackSlots);
        holder.Handler.RecallAnswer = async (_, ct) =>
        {
            await all.ArriveAndWaitAsync(ct);
            return NfsStat4.Ok;
        };
        foreach (string name in moreNames)
            Assert.Equal(NfsStat4.Delay, await OpenForWriteAsync(writer, more, name).Bounded());
        await all.All.Bounded();
        foreach (var opened in again)
            Assert.Equal(NfsStat4.Ok, await holder.Session.DelegReturnAsync(opened.FileHandle, opened.Delegation.StateId).Bounded());
        Assert.Equal(0, misused);
    }

    [Fact]
    public async Task ClientThatDisappearsHolding1000Delegations()
    {
        const int Files = 1000, Recalled = 10;
        var holder = await ConnectAsync();
        await using var writer = await ConnectAsync();
        var (dir, names) = await NewFilesAsync(Files);
        await Parallel.ForEachAsync(names, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (name, _) => await HoldAsync(holder, dir, name));
        ulong gone = holder.Session.ClientId;
        Assert.Equal(Files, fx.Engine.Snapshot().Grants.Count(g => g.Holder.Group == gone && g.Kind == Leasehold.Engine.GrantKind.Delegation));

        // The holder vanishes (no DESTROY_SESSION, no DELEGRETURN); recalls of some of its delegations find no back channel.
        await holder.Session.DropConnectionAsync();
        for (int i = 0; i < Recalled; i++)
            Assert.Equal(NfsStat4.Delay, await OpenForWriteAsync(writer, dir, names[i]).Bounded());
        // The engine's break notices reach the NFS layer on pool threads; wait until all ten are recalls in flight, so
        // that the lease runs out after the recalls began (a notice that came later would find a courtesy client and
        // expire it at once, which is the next step's business).
        var admin = new Leasehold.Nfs4.Admin.ServerAdmin(fx.Service.Nfs ?? throw new InvalidOperationException("The server is not running."));
        int Recalling() => admin.Client(gone)!.Delegations.Count(d => d.Status == "RECALLING");
        var started = DateTime.UtcNow + Waits.Timeout;
        while (Recalling() < Recalled && DateTime.UtcNow < started)
            await Task.Delay(10);
        Assert.Equal(Recalled, Recalling());

        // Past its lease the client is a courtesy client (RFC 8881 §8.4.3): it keeps what it holds until somebody needs
        // it. The writer's next conflicting OPEN expires it (DELAY while that happens), and everything it held goes.
        await AdvanceAsync(fx.LeaseTime * 1.5, writer.Session);
        Assert.Contains(fx.Engine.Snapshot().Grants, g => g.Holder.Group == gone);
        Assert.Equal(NfsStat4.Ok, await RetryWhileDelayAsync(() => OpenForWriteAsync(writer, dir, names[Recalled])));
        var deadline = DateTime.UtcNow + Waits.Timeout;
        while (fx.Engine.Snapshot().Grants.Any(g => g.Holder.Group == gone) && DateTime.UtcNow < deadline)
            await Task.Delay(10); // the expiry releases the other delegations on a pool thread
        Assert.DoesNotContain(fx.Engine.Snapshot().Grants, g => g.Holder.Group == gone);
        await Parallel.ForEachAsync(names, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (name, _) =>
            Assert.Equal(NfsStat4.Ok, await OpenForWriteAsync(writer, dir, name).Bounded())); // no DELAY: nothing left to recall
        Assert.Equal(0, holder.Handler.SequenceCount);
        await holder.DisposeAsync();
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current = Volatile.Read(ref target);
        while (value > current)
        {
            int seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current)
                return;
            current = seen;
        }
    }
}
