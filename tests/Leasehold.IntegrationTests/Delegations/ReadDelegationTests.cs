using Leasehold.Nfs4.Client;
using Leasehold.Nfs4.Client.Callbacks;
using Leasehold.Nfs4.Client.Rpc;
using Leasehold.Rpc.Messages;

namespace Leasehold.IntegrationTests.Delegations;

/// <summary>
/// Read delegations over the wire (RFC 8881 §10.2, §10.4, §18.6, §20.2): granted on OPEN for read, recalled with
/// CB_RECALL on the holder's back channel when another client conflicts (the conflicting operation answers
/// NFS4ERR_DELAY at once and succeeds after DELEGRETURN), never recalled by the holder's own operations.
/// </summary>
public sealed class ReadDelegationTests(ServerFixture fx) : IClassFixture<ServerFixture>
{
    private const uint Contention = 1, Resource = 2;

    internal sealed record Client(Nfs4Session Session, RecordingCallbackHandler Handler) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => Session.DisposeAsync();
    }

    private async Task<Client> ConnectAsync(bool backChannel = true, RpcCredentials? callbackCredentials = null)
    {
        var handler = new RecordingCallbackHandler();
        var session = await fx.ConnectAsync(options: new Nfs4SessionOptions
        {
            CallbackHandler = handler,
            BackChannel = backChannel,
            CallbackSecurity = callbackCredentials is null ? null : [callbackCredentials],
        });
        return new Client(session, handler);
    }

    /// <summary>A new file with some content, made (and closed) by the fixture's root session; its name and handle.</summary>
    private async Task<(FileHandle Root, string Name, FileHandle File)> NewFileAsync()
    {
        var root = await fx.RootAsync();
        string name = ServerFixture.NewName("deleg");
        var made = (await fx.Session.CreateAsync(root, name).Bounded()).ValueOrThrow();
        Assert.Equal(NfsStat4.Ok, (await fx.Session.WriteAsync(made.FileHandle, made.StateId, 0, ServerFixture.Bytes("hello")).Bounded()).Status);
        Assert.Equal(NfsStat4.Ok, (await fx.Session.CloseAsync(made.FileHandle, made.StateId).Bounded()).Status);
        return (root, name, made.FileHandle);
    }

    private static async Task<OpenedFile> OpenReadAsync(Client c, FileHandle root, string name, ShareAccess want = 0) =>
        (await c.Session.OpenAsync(root, name, ShareAccess.Read | want).Bounded()).ValueOrThrow();

    private static async Task<CbRecallEvent> NextRecallAsync(Client c)
    {
        using var timeout = new CancellationTokenSource(Waits.Timeout);
        return await c.Handler.Recalls.ReadAsync(timeout.Token);
    }

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

    [Fact]
    public async Task An_open_for_read_that_wants_a_read_delegation_gets_one()
    {
        var (root, name, file) = await NewFileAsync();
        await using var a = await ConnectAsync();

        var opened = await OpenReadAsync(a, root, name, ShareAccess.WantReadDelegation);

        Assert.Equal(DelegationType.Read, opened.Delegation.Type);
        Assert.False(opened.Delegation.Recall);
        Assert.NotEqual(opened.StateId.Other, opened.Delegation.StateId.Other);
        Assert.Equal(1u, opened.Delegation.StateId.SeqId);
        Assert.Equal(file, opened.FileHandle);
    }

    [Fact]
    public async Task The_holder_reads_with_its_delegation_stateid_but_cannot_write_with_it()
    {
        // The Linux client reads with the delegation stateid while it holds a read delegation (§10.2); a server that
        // refused it would leave the client retrying the READ forever.
        var (root, name, file) = await NewFileAsync();
        await using var a = await ConnectAsync();
        var opened = await OpenReadAsync(a, root, name);
        Assert.Equal(DelegationType.Read, opened.Delegation.Type);

        var read = (await a.Session.ReadAsync(file, opened.Delegation.StateId, 0, 100).Bounded()).ValueOrThrow();
        Assert.Equal("hello", System.Text.Encoding.UTF8.GetString(read.Data.Span));
        Assert.Equal(NfsStat4.OpenMode, (await a.Session.WriteAsync(file, opened.Delegation.StateId, 0, ServerFixture.Bytes("x")).Bounded()).Status);

        // Another client cannot use it.
        await using var b = await ConnectAsync();
        Assert.Equal(NfsStat4.BadStateId, (await b.Session.ReadAsync(file, opened.Delegation.StateId, 0, 100).Bounded()).Status);
    }

    [Fact]
    public async Task An_open_for_read_without_a_want_gets_a_read_delegation()
    {
        var (root, name, _) = await NewFileAsync();
        await using var a = await ConnectAsync();

        var opened = await OpenReadAsync(a, root, name);

        Assert.Equal(DelegationType.Read, opened.Delegation.Type);
    }

    [Fact]
    public async Task A_write_open_by_another_client_recalls_and_is_delayed_until_DELEGRETURN()
    {
        var (root, name, file) = await NewFileAsync();
        await using var a = await ConnectAsync(callbackCredentials: RpcAuth.Sys(4321, 8765, machineName: "holder"));
        await using var b = await ConnectAsync();
        var held = await OpenReadAsync(a, root, name);
        Assert.Equal(DelegationType.Read, held.Delegation.Type);

        // The conflicting OPEN answers DELAY at once; the holder hears CB_RECALL of that delegation on its back channel.
        Assert.Equal(NfsStat4.Delay, (await b.Session.OpenAsync(root, name, ShareAccess.Write).Bounded()).Status);
        var recall = await NextRecallAsync(a);
        Assert.Equal(held.Delegation.StateId, recall.StateId);
        Assert.Equal(file, recall.FileHandle);
        Assert.False(recall.Truncate);
        Assert.Equal(AuthFlavor.Sys, recall.Credentials?.Flavor); // the callback security the holder gave
        Assert.Equal(4321u, recall.Credentials?.Uid);
        Assert.Equal(8765u, recall.Credentials?.Gid);

        // Still delayed until the holder returns it: the recall is pending.
        Assert.Equal(NfsStat4.Delay, (await b.Session.OpenAsync(root, name, ShareAccess.Write).Bounded()).Status);
        Assert.Equal(NfsStat4.Ok, await a.Session.DelegReturnAsync(file, held.Delegation.StateId).Bounded());

        var writer = (await b.Session.OpenAsync(root, name, ShareAccess.Write).Bounded()).ValueOrThrow();
        Assert.Equal(NfsStat4.Ok, (await b.Session.WriteAsync(writer.FileHandle, writer.StateId, 0, ServerFixture.Bytes("world")).Bounded()).Status);
    }

    [Fact]
    public async Task The_holders_own_write_open_does_not_recall_its_delegation()
    {
        // pynfs DELEG23: the breaker is the client, so its own operations never recall its own delegation.
        var (root, name, file) = await NewFileAsync();
        await using var a = await ConnectAsync();
        var held = await OpenReadAsync(a, root, name);
        Assert.Equal(DelegationType.Read, held.Delegation.Type);

        var writer = (await a.Session.OpenAsync(root, name, ShareAccess.Write, owner: a.Session.NewOwner("other-owner")).Bounded()).ValueOrThrow();
        Assert.Equal(NfsStat4.Ok, (await a.Session.WriteAsync(writer.FileHandle, writer.StateId, 0, ServerFixture.Bytes("mine")).Bounded()).Status);
        Assert.Equal(NfsStat4.Ok, (await a.Session.SetAttrAsync(file, new SetAttributes { Mode = 0x180 }).Bounded()).Status);

        Assert.False(a.Handler.Recalls.TryRead(out _));
        Assert.Equal(NfsStat4.Ok, await a.Session.DelegReturnAsync(file, held.Delegation.StateId).Bounded()); // still held, not revoked
    }

    [Fact]
    public async Task A_read_open_by_another_client_does_not_recall_and_gets_its_own_delegation()
    {
        var (root, name, _) = await NewFileAsync();
        await using var a = await ConnectAsync();
        await using var b = await ConnectAsync();
        var first = await OpenReadAsync(a, root, name);

        var second = await OpenReadAsync(b, root, name);

        Assert.Equal(DelegationType.Read, first.Delegation.Type);
        Assert.Equal(DelegationType.Read, second.Delegation.Type);
        Assert.NotEqual(first.Delegation.StateId, second.Delegation.StateId);
        Assert.False(a.Handler.Recalls.TryRead(out _));
    }

    public enum Conflict
    {
        Remove,
        Rename,
        Link,
        SetAttrMode,
        SetAttrSize,
    }

    [Theory]
    [InlineData(Conflict.Remove)]
    [InlineData(Conflict.Rename)]
    [InlineData(Conflict.Link)]
    [InlineData(Conflict.SetAttrMode)]
    [InlineData(Conflict.SetAttrSize)]
    public async Task A_conflicting_namespace_or_attribute_change_by_another_client_recalls(Conflict conflict)
    {
        var (root, name, file) = await NewFileAsync();
        await using var a = await ConnectAsync();
        await using var b = await ConnectAsync();
        var held = await OpenReadAsync(a, root, name);
        Assert.Equal(DelegationType.Read, held.Delegation.Type);

        Task<NfsStat4> Act() => conflict switch
        {
            Conflict.Remove => b.Session.RemoveAsync(root, name).ContinueWith(t => t.Result.Status),
            Conflict.Rename => b.Session.RenameAsync(root, name, root, name + ".moved").ContinueWith(t => t.Result.Status),
            Conflict.Link => b.Session.LinkAsync(file, root, name + ".link").ContinueWith(t => t.Result.Status),
            Conflict.SetAttrMode => b.Session.SetAttrAsync(file, new SetAttributes { Mode = 0x180 }).ContinueWith(t => t.Result.Status),
            Conflict.SetAttrSize => b.Session.SetAttrAsync(file, new SetAttributes { Size = 0 }).ContinueWith(t => t.Result.Status), // anonymous stateid
            _ => throw new ArgumentOutOfRangeException(nameof(conflict)),
        };

        Assert.Equal(NfsStat4.Delay, await Act().Bounded());
        var recall = await NextRecallAsync(a);
        Assert.Equal(held.Delegation.StateId, recall.StateId);
        Assert.Equal(NfsStat4.Ok, await a.Session.DelegReturnAsync(file, held.Delegation.StateId).Bounded());
        Assert.Equal(NfsStat4.Ok, await RetryWhileDelayAsync(Act));
    }

    [Fact]
    public async Task A_second_DELEGRETURN_is_BAD_STATEID()
    {
        var (root, name, file) = await NewFileAsync();
        await using var a = await ConnectAsync();
        var held = await OpenReadAsync(a, root, name);

        Assert.Equal(NfsStat4.Ok, await a.Session.DelegReturnAsync(file, held.Delegation.StateId).Bounded());
        Assert.Equal(NfsStat4.BadStateId, await a.Session.DelegReturnAsync(file, held.Delegation.StateId).Bounded());
    }

    [Fact]
    public async Task DELEGRETURN_of_another_clients_delegation_is_BAD_STATEID_and_leaves_it_held()
    {
        var (root, name, file) = await NewFileAsync();
        await using var a = await ConnectAsync();
        await using var b = await ConnectAsync();
        var held = await OpenReadAsync(a, root, name);

        Assert.Equal(NfsStat4.BadStateId, await b.Session.DelegReturnAsync(file, held.Delegation.StateId).Bounded());
        Assert.Equal(NfsStat4.Ok, await a.Session.DelegReturnAsync(file, held.Delegation.StateId).Bounded());
    }

    [Fact]
    public async Task DELEGRETURN_on_another_file_is_BAD_STATEID()
    {
        var (root, name, file) = await NewFileAsync();
        var (_, _, other) = await NewFileAsync();
        await using var a = await ConnectAsync();
        var held = await OpenReadAsync(a, root, name);

        Assert.Equal(NfsStat4.BadStateId, await a.Session.DelegReturnAsync(other, held.Delegation.StateId).Bounded());
        Assert.Equal(NfsStat4.Ok, await a.Session.DelegReturnAsync(file, held.Delegation.StateId).Bounded());
    }

    [Fact]
    public async Task No_delegation_is_granted_to_a_client_without_a_back_channel()
    {
        var (root, name, _) = await NewFileAsync();
        await using var a = await ConnectAsync(backChannel: false);

        var plain = await OpenReadAsync(a, root, name);
        Assert.Equal(DelegationType.None, plain.Delegation.Type);

        var wanted = await OpenReadAsync(a, root, name, ShareAccess.WantReadDelegation);
        Assert.Equal(DelegationType.NoneExt, wanted.Delegation.Type);
        Assert.Equal(Resource, wanted.Delegation.WhyNone);
        Assert.False(wanted.Delegation.ServerWillSignal);
    }

    [Fact]
    public async Task A_file_just_recalled_gets_no_new_delegation_and_the_reason_is_contention()
    {
        var (root, name, file) = await NewFileAsync();
        await using var a = await ConnectAsync();
        await using var b = await ConnectAsync();
        var held = await OpenReadAsync(a, root, name);
        Assert.Equal(NfsStat4.Delay, (await b.Session.OpenAsync(root, name, ShareAccess.Write).Bounded()).Status);

        // While the recall is pending...
        var pending = await OpenReadAsync(b, root, name, ShareAccess.WantReadDelegation);
        Assert.Equal(DelegationType.NoneExt, pending.Delegation.Type);
        Assert.Equal(Contention, pending.Delegation.WhyNone);

        // ...and within the recall window after it was returned.
        await NextRecallAsync(a);
        Assert.Equal(NfsStat4.Ok, await a.Session.DelegReturnAsync(file, held.Delegation.StateId).Bounded());
        var again = await OpenReadAsync(a, root, name, ShareAccess.WantReadDelegation);
        Assert.Equal(DelegationType.NoneExt, again.Delegation.Type);
        Assert.Equal(Contention, again.Delegation.WhyNone);
    }

    [Fact]
    public async Task A_second_open_by_the_holder_gets_no_second_delegation()
    {
        var (root, name, _) = await NewFileAsync();
        await using var a = await ConnectAsync();
        var held = await OpenReadAsync(a, root, name);
        Assert.Equal(DelegationType.Read, held.Delegation.Type);

        var again = (await a.Session.OpenAsync(root, name, ShareAccess.Read | ShareAccess.WantReadDelegation, owner: a.Session.NewOwner("second")).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.NoneExt, again.Delegation.Type);
        Assert.Equal(Contention, again.Delegation.WhyNone);
    }

    [Fact]
    public async Task DESTROY_CLIENTID_is_busy_while_a_delegation_is_held()
    {
        var (root, name, file) = await NewFileAsync();
        await using var a = await ConnectAsync();
        var held = await OpenReadAsync(a, root, name);
        Assert.Equal(NfsStat4.Ok, (await a.Session.CloseAsync(held.FileHandle, held.StateId).Bounded()).Status);
        Assert.Equal(NfsStat4.Ok, await a.Session.DestroySessionAsync().Bounded());

        Assert.Equal(NfsStat4.ClientIdBusy, await a.Session.DestroyClientIdAsync().Bounded()); // the delegation outlives the close

        await a.Session.CreateSessionAsync().Bounded();
        Assert.Equal(NfsStat4.Ok, await a.Session.DelegReturnAsync(file, held.Delegation.StateId).Bounded());
        Assert.Equal(NfsStat4.Ok, await a.Session.DestroySessionAsync().Bounded());
        Assert.Equal(NfsStat4.Ok, await a.Session.DestroyClientIdAsync().Bounded());
    }

    [Fact]
    public async Task TEST_STATEID_and_FREE_STATEID_know_delegation_stateids()
    {
        var (root, name, file) = await NewFileAsync();
        await using var a = await ConnectAsync();
        await using var b = await ConnectAsync();
        var held = await OpenReadAsync(a, root, name);
        var id = held.Delegation.StateId;

        Assert.Equal([NfsStat4.Ok], (await a.Session.TestStateIdAsync([id]).Bounded()).ValueOrThrow());
        Assert.Equal([NfsStat4.BadStateId], (await b.Session.TestStateIdAsync([id]).Bounded()).ValueOrThrow());
        Assert.Equal(NfsStat4.LocksHeld, await a.Session.FreeStateIdAsync(id).Bounded()); // an active delegation is returned, not freed

        Assert.Equal(NfsStat4.Ok, await a.Session.DelegReturnAsync(file, id).Bounded());
        Assert.Equal([NfsStat4.BadStateId], (await a.Session.TestStateIdAsync([id]).Bounded()).ValueOrThrow());
        Assert.Equal(NfsStat4.BadStateId, await a.Session.FreeStateIdAsync(id).Bounded());
    }

    [Fact]
    public async Task Want_no_delegation_and_cancel_get_none_with_their_reasons()
    {
        var (root, name, _) = await NewFileAsync();
        await using var a = await ConnectAsync();

        var notWanted = await OpenReadAsync(a, root, name, ShareAccess.WantNoDelegation);
        Assert.Equal(DelegationType.NoneExt, notWanted.Delegation.Type);
        Assert.Equal(0u, notWanted.Delegation.WhyNone);

        var cancelled = await OpenReadAsync(a, root, name, ShareAccess.WantCancel);
        Assert.Equal(DelegationType.NoneExt, cancelled.Delegation.Type);
        Assert.Equal(7u, cancelled.Delegation.WhyNone);
    }
}
