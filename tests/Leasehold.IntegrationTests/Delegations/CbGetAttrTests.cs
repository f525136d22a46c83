using System.Diagnostics;
using Leasehold.Nfs4.Client;
using Leasehold.Nfs4.Client.Callbacks;

namespace Leasehold.IntegrationTests.Delegations;

/// <summary>
/// The server with a CB_GETATTR timeout of 1 s instead of 30 ms: a loaded test machine answers a callback in time, and a
/// GETATTR that gives up still does so long before the callback's own 9 s timeout, which tells the two apart.
/// </summary>
public sealed class CbGetAttrServerFixture : ServerFixture
{
    public static readonly TimeSpan CbGetAttrTimeout = TimeSpan.FromSeconds(1);

    protected override void Configure(IDictionary<string, string?> settings) =>
        settings["Nfs4:CbGetAttrTimeout"] = CbGetAttrTimeout.ToString();
}

/// <summary>
/// CB_GETATTR (RFC 8881 §10.4.3, §20.1; knfsd since 6.7): while a client holds a write delegation, another client's
/// GETATTR of size or change asks the holder, and reports the holder's size and a new change attribute when the holder
/// has modified the file; a holder that does not answer in time is recalled and the GETATTR answers NFS4ERR_DELAY.
/// </summary>
public sealed class CbGetAttrTests(CbGetAttrServerFixture fx) : IClassFixture<CbGetAttrServerFixture>
{
    private static readonly AttrBitmap SizeAndChange = AttrBitmap.Of(FileAttr.Change, FileAttr.Size);

    /// <summary>A new file ("hello", 5 bytes) held under a write delegation by a new client; the server's change attribute then.</summary>
    private async Task<(DelegationClient Holder, FileHandle File, StateId Delegation, ulong Change)> HeldAsync(uint backChannelSlots = 1)
    {
        var (root, name, file) = await DelegationClient.NewFileAsync(fx, "cbgetattr");
        var holder = await DelegationClient.ConnectAsync(fx, backChannelSlots);
        var opened = (await holder.Session.OpenAsync(root, name, ShareAccess.Both, attrs: SizeAndChange).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.Write, opened.Delegation.Type);
        return (holder, file, opened.Delegation.StateId, opened.Attributes!.Change!.Value);
    }

    [Fact]
    public async Task A_GETATTR_by_another_client_asks_the_holder_and_reports_its_size_and_a_new_change()
    {
        var (holder, file, _, change) = await HeldAsync();
        await using var _holder = holder;
        // The holder has written locally: change at grant + 1 (the Linux client's answer when dirty) and 4 KiB.
        holder.Handler.GetAttrAnswer = (_, _) => ValueTask.FromResult(CbGetAttrAnswer.Attributes(change + 1, 4096));
        await using var other = await DelegationClient.ConnectAsync(fx);

        var first = (await other.Session.GetAttrAsync(file, SizeAndChange).Bounded()).ValueOrThrow();
        var asked = await holder.NextGetAttrAsync();
        var second = (await other.Session.GetAttrAsync(file, AttrBitmap.Of(FileAttr.Size)).Bounded()).ValueOrThrow();
        var third = (await other.Session.GetAttrAsync(file, SizeAndChange).Bounded()).ValueOrThrow();

        Assert.Equal(file, asked.FileHandle);
        Assert.Equal([FileAttr.Change, FileAttr.Size], asked.Mask.ToArray());
        Assert.Equal(4096ul, first.Size);
        Assert.Equal(change + 1, first.Change); // max(server change, change at grant) + 1
        Assert.Equal(4096ul, second.Size);
        Assert.True(third.Change > first.Change); // every GETATTR that finds the file modified shows a change
        // Nothing was written back: the holder itself (no callback for it) sees the server's own size.
        Assert.Equal(5ul, (await holder.Session.GetAttrAsync(file, SizeAndChange).Bounded()).ValueOrThrow().Size);
        Assert.False(holder.Handler.Recalls.TryRead(out _));
    }

    [Fact]
    public async Task A_holder_that_modified_nothing_leaves_the_servers_size_and_change()
    {
        var (holder, file, delegation, change) = await HeldAsync();
        await using var _holder = holder;
        holder.Handler.GetAttrAnswer = (_, _) => ValueTask.FromResult(CbGetAttrAnswer.Attributes(change, 5));
        await using var other = await DelegationClient.ConnectAsync(fx);

        var attrs = (await other.Session.GetAttrAsync(file, SizeAndChange).Bounded()).ValueOrThrow();

        Assert.Equal(5ul, attrs.Size);
        Assert.Equal(change, attrs.Change);
        await holder.NextGetAttrAsync();

        // Data the holder has written back is no modification: its size is the server's, and its change is the one at
        // grant again once nothing is dirty (RFC 8881 §10.4.3 compares the size with the server's current size).
        Assert.Equal(NfsStat4.Ok, (await holder.Session.WriteAsync(file, delegation, 5, ServerFixture.Bytes(" world")).Bounded()).Status);
        holder.Handler.GetAttrAnswer = (_, _) => ValueTask.FromResult(CbGetAttrAnswer.Attributes(change, 11));
        var server = (await holder.Session.GetAttrAsync(file, SizeAndChange).Bounded()).ValueOrThrow(); // the holder's own: no callback
        var after = (await other.Session.GetAttrAsync(file, SizeAndChange).Bounded()).ValueOrThrow();
        Assert.Equal(11ul, after.Size);
        Assert.Equal(server.Change, after.Change);
    }

    [Fact]
    public async Task A_holder_that_does_not_answer_in_time_is_recalled_and_the_GETATTR_delays()
    {
        // Two back-channel slots: the CB_RECALL goes out while the unanswered CB_GETATTR still holds the first.
        var (holder, file, delegation, _) = await HeldAsync(backChannelSlots: 2);
        await using var _holder = holder;
        var stuck = new TaskCompletionSource<CbGetAttrAnswer>(TaskCreationOptions.RunContinuationsAsynchronously);
        holder.Handler.GetAttrAnswer = (_, _) => new ValueTask<CbGetAttrAnswer>(stuck.Task);
        await using var other = await DelegationClient.ConnectAsync(fx);

        var clock = Stopwatch.StartNew();
        Assert.Equal(NfsStat4.Delay, (await other.Session.GetAttrAsync(file, SizeAndChange).Bounded()).Status);
        var waited = clock.Elapsed;
        await holder.NextGetAttrAsync();
        Assert.Equal(delegation, (await holder.NextRecallAsync()).StateId);

        // Bounded by CbGetAttrTimeout, not by the callback's own 9 s timeout (a loaded machine may add a little; the
        // server's timer may fire a millisecond or two before this stopwatch says the timeout has passed).
        Assert.InRange(waited, CbGetAttrServerFixture.CbGetAttrTimeout * 0.9, CbGetAttrServerFixture.CbGetAttrTimeout * 3);
        stuck.SetResult(CbGetAttrAnswer.Attributes(0, 0));
        Assert.Equal(NfsStat4.Delay, (await other.Session.GetAttrAsync(file, SizeAndChange).Bounded()).Status); // recall pending
        Assert.Equal(NfsStat4.Ok, await holder.Session.DelegReturnAsync(file, delegation).Bounded());
        var attrs = (await other.Session.GetAttrAsync(file, SizeAndChange).Bounded()).ValueOrThrow();
        Assert.Equal(5ul, attrs.Size);
    }

    [Fact]
    public async Task A_holder_that_answers_CB_GETATTR_with_an_error_is_recalled()
    {
        var (holder, file, delegation, _) = await HeldAsync();
        await using var _holder = holder; // the default handler answers NFS4ERR_NOTSUPP
        await using var other = await DelegationClient.ConnectAsync(fx);

        Assert.Equal(NfsStat4.Delay, (await other.Session.GetAttrAsync(file, AttrBitmap.Of(FileAttr.Change)).Bounded()).Status);
        Assert.Equal(delegation, (await holder.NextRecallAsync()).StateId);
        Assert.Equal(NfsStat4.Ok, await holder.Session.DelegReturnAsync(file, delegation).Bounded());
        Assert.Equal(NfsStat4.Ok, (await other.Session.GetAttrAsync(file, SizeAndChange).Bounded()).Status);
    }

    [Fact]
    public async Task The_holders_own_GETATTR_sends_no_callback()
    {
        var (holder, file, _, change) = await HeldAsync();
        await using var _holder = holder;

        var attrs = (await holder.Session.GetAttrAsync(file, SizeAndChange).Bounded()).ValueOrThrow();

        Assert.Equal(change, attrs.Change);
        Assert.Equal(5ul, attrs.Size);
        Assert.False(holder.Handler.GetAttrs.TryRead(out _));
    }

    [Fact]
    public async Task A_GETATTR_without_size_or_change_sends_no_callback()
    {
        var (holder, file, _, _) = await HeldAsync();
        await using var _holder = holder;
        await using var other = await DelegationClient.ConnectAsync(fx);

        var attrs = (await other.Session.GetAttrAsync(file, AttrBitmap.Of(FileAttr.Mode, FileAttr.NumLinks, FileAttr.TimeModify)).Bounded()).ValueOrThrow();

        Assert.Equal(1u, attrs.NumLinks);
        Assert.False(holder.Handler.GetAttrs.TryRead(out _));
        Assert.False(holder.Handler.Recalls.TryRead(out _));
    }
}
