using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using Leasehold.Nfs4.Admin;
using Leasehold.Nfs4.Client;
using Leasehold.Nfs4.Client.Callbacks;

namespace Leasehold.IntegrationTests.Admin;

/// <summary>The server with its admin endpoint on TCP too (127.0.0.1, any port), besides the state directory's socket.</summary>
public sealed class AdminFixture : ServerFixture
{
    protected override void Configure(IDictionary<string, string?> settings) => settings["Admin:Listen"] = "127.0.0.1:0";

    /// <summary>The token the server made in its state directory.</summary>
    public string Token => File.ReadAllText(Path.Join(StatePath, "admin.token")).Trim();

    /// <summary>An HTTP client over the state directory's Unix socket, with no token.</summary>
    public HttpClient SocketClient() => AdminHttp.OverSocket(Admin.SocketPath ?? throw new InvalidOperationException("no admin socket"));

    /// <summary>An HTTP client to the TCP endpoint, with no token.</summary>
    public HttpClient TcpClient() => new() { BaseAddress = new Uri($"http://{Admin.TcpEndPoint}/") };
}

/// <summary>HTTP clients of the admin endpoint.</summary>
internal static class AdminHttp
{
    /// <summary>An HTTP client over the admin Unix socket at <paramref name="socket"/>, with no token.</summary>
    public static HttpClient OverSocket(string socket)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, ct) =>
            {
                var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await s.ConnectAsync(new UnixDomainSocketEndPoint(socket), ct);
                return new NetworkStream(s, ownsSocket: true);
            },
        };
        return new HttpClient(handler) { BaseAddress = new Uri("http://leasehold/") };
    }
}

/// <summary>
/// Issue 13's verbs against a real server with real clients holding real state: `leasehold clients`, `client show`,
/// `locks`, `recall` and `client revoke` run as the operator runs them (the command in its own process, through the
/// state directory's admin socket), and the endpoint's token rules.
/// </summary>
public sealed class AdminTests(AdminFixture fx) : IClassFixture<AdminFixture>
{
    private sealed record Client(Nfs4Session Session, RecordingCallbackHandler Handler) : IAsyncDisposable
    {
        public string Id => Session.ClientId.ToString("x16");

        public ValueTask DisposeAsync() => Session.DisposeAsync();
    }

    private async Task<Client> ConnectAsync()
    {
        var handler = new RecordingCallbackHandler();
        var session = await fx.ConnectAsync(options: new Nfs4SessionOptions { CallbackHandler = handler });
        return new Client(session, handler);
    }

    private async Task<(FileHandle Root, string Name)> NewFileAsync()
    {
        var root = await fx.RootAsync();
        string name = ServerFixture.NewName("admin");
        var made = (await fx.Session.CreateAsync(root, name).Bounded()).ValueOrThrow();
        Assert.Equal(NfsStat4.Ok, (await fx.Session.WriteAsync(made.FileHandle, made.StateId, 0, ServerFixture.Bytes("hello")).Bounded()).Status);
        Assert.Equal(NfsStat4.Ok, (await fx.Session.CloseAsync(made.FileHandle, made.StateId).Bounded()).Status);
        return (root, name);
    }

    private static async Task<OpenedFile> HoldReadDelegationAsync(Client c, FileHandle root, string name, ShareDeny deny = ShareDeny.None)
    {
        var opened = (await c.Session.OpenAsync(root, name, ShareAccess.Read | ShareAccess.WantReadDelegation, deny: deny).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.Read, opened.Delegation.Type);
        return opened;
    }

    private Task<AdminCli.Run> Cli(params string[] args) => AdminCli.RunAsync([.. args, "--state-dir", fx.StatePath]);

    [Fact]
    public async Task Clients_locks_and_client_show_list_what_a_client_holds()
    {
        var (root, name) = await NewFileAsync();
        await using var a = await ConnectAsync();
        var opened = await HoldReadDelegationAsync(a, root, name);

        var clients = await Cli("clients", "--json");
        Assert.True(clients.ExitCode == 0, clients.ToString());
        var me = Assert.Single(clients.Json<List<ClientView>>(), c => c.Id == a.Id);
        Assert.Equal(("active", 1, 1, true, 1u), (me.State, me.Opens, me.Delegations, me.BackChannelUp, me.MinorVersion));
        Assert.StartsWith("127.0.0.1:", me.Address);
        Assert.True(me.LeaseExpires > DateTimeOffset.UtcNow);

        var locks = await Cli("locks", "--json");
        Assert.True(locks.ExitCode == 0, locks.ToString());
        var rows = locks.Json<List<LockView>>().Where(l => l.Path == "/" + name).ToList();
        var delegation = Assert.Single(rows, r => r.Kind == "DELEGATION");
        Assert.Equal(("READ", a.Id, "ACTIVE"), (delegation.Mode, delegation.Client, delegation.State));
        Assert.NotNull(delegation.Granted);
        Assert.Null(delegation.Deadline);
        var share = Assert.Single(rows, r => r.Kind == "SHARE");
        Assert.Equal(("READ/NONE", a.Id), (share.Mode, share.Client));
        Assert.InRange(share.Granted!.Value, DateTimeOffset.UtcNow - Waits.Timeout, DateTimeOffset.UtcNow); // its age

        var table = await Cli("locks");
        Assert.Contains(table.Stdout.Split('\n'), line => line.StartsWith("/" + name, StringComparison.Ordinal) && line.Contains("DELEGATION") && line.Contains(a.Id));

        var show = await Cli("client", "show", a.Id, "--json");
        Assert.True(show.ExitCode == 0, show.ToString());
        var states = show.Json<ClientStatesView>();
        var open = Assert.Single(states.Opens);
        Assert.Equal(("/" + name, "READ", "NONE", opened.StateId.ToString()), (open.Path, open.Access, open.Deny, open.StateId));
        var held = Assert.Single(states.Delegations);
        Assert.Equal(("/" + name, "READ", "ACTIVE"), (held.Path, held.Type, held.Status));

        var missing = await Cli("client", "show", "00000000000000ff");
        Assert.Equal(3, missing.ExitCode);
        Assert.Contains("no client 00000000000000ff", missing.Stderr);

        // A byte-range lock: counted where the client is listed, and named by its lock owner in both views.
        var owner = a.Session.NewOwner("admin-lock");
        Assert.Equal(NfsStat4.Ok, (await a.Session.LockAsync(opened.FileHandle, LockType.Read, 0, 10, Locker.FromOpen(opened.StateId, owner)).Bounded()).Status);
        Assert.Equal(1, (await Cli("clients", "--json")).Json<List<ClientView>>().Single(c => c.Id == a.Id).Locks);
        var lockRow = Assert.Single((await Cli("locks", "--json")).Json<List<LockView>>(), l => l.Path == "/" + name && l.Kind == "RANGE");
        var shownLock = Assert.Single((await Cli("client", "show", a.Id, "--json")).Json<ClientStatesView>().Locks);
        Assert.Equal(("admin-lock-", "0-9"), (lockRow.Holder[..11], lockRow.Range));
        Assert.Equal(lockRow.Holder, shownLock.LockOwner);
    }

    /// <summary>
    /// A client whose connection went away without a word (a crash, a cut cable) is exactly the one an operator looks
    /// for: the views keep working, show where it was, and that its back channel is down.
    /// </summary>
    [Fact]
    public async Task A_client_that_lost_its_connection_is_still_listed_with_its_last_address()
    {
        var (root, name) = await NewFileAsync();
        await using var a = await ConnectAsync();
        await HoldReadDelegationAsync(a, root, name);
        await a.Session.DropConnectionAsync();

        ClientView? me = null;
        await Waits.WaitUntilAsync(async () =>
        {
            var clients = await Cli("clients", "--json");
            Assert.True(clients.ExitCode == 0, clients.ToString());
            me = Assert.Single(clients.Json<List<ClientView>>(), c => c.Id == a.Id);
            return !me.BackChannelUp;
        }, "the server notices the client's connection is gone");
        Assert.StartsWith("127.0.0.1:", me!.Address);
        Assert.Equal((1, 1), (me.Opens, me.Delegations));
        var show = await Cli("client", "show", a.Id, "--json");
        Assert.True(show.ExitCode == 0, show.ToString());
        Assert.Single(show.Json<ClientStatesView>().Delegations);
        using var http = fx.SocketClient();
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("api/clients")).StatusCode);

        // Back on a new connection: listed as before, from its new address.
        await a.Session.ReconnectAsync();
        Assert.Equal(NfsStat4.Ok, await a.Session.RenewAsync().Bounded());
        var again = await Cli("clients", "--json");
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.StartsWith("127.0.0.1:", Assert.Single(again.Json<List<ClientView>>(), c => c.Id == a.Id).Address);
    }

    [Fact]
    public async Task Recall_sends_CB_RECALL_to_every_holder_of_the_file()
    {
        var (root, name) = await NewFileAsync();
        await using var a = await ConnectAsync();
        await using var b = await ConnectAsync();
        var heldA = await HoldReadDelegationAsync(a, root, name);
        var heldB = await HoldReadDelegationAsync(b, root, name);

        // The file's full path on this machine, as an operator would type it.
        var recall = await Cli("recall", Path.Join(fx.ExportPath, name), "--json");

        Assert.True(recall.ExitCode == 0, recall.ToString());
        Assert.Equal(("/" + name, 2), (recall.Json<RecallOutcome>().Path, recall.Json<RecallOutcome>().Recalling));
        using var timeout = new CancellationTokenSource(Waits.Timeout);
        Assert.Equal(heldA.Delegation.StateId, (await a.Handler.Recalls.ReadAsync(timeout.Token)).StateId);
        Assert.Equal(heldB.Delegation.StateId, (await b.Handler.Recalls.ReadAsync(timeout.Token)).StateId);

        var none = await Cli("recall", "/no-such-file");
        Assert.Equal(3, none.ExitCode);
        Assert.Contains("no such file", none.Stderr);

        // The file named the ways an operator types it: through a symlink to the export, with ".." on the way.
        string link = Path.Join(fx.Root, "export-link-" + name);
        File.CreateSymbolicLink(link, fx.ExportPath);
        foreach (string typed in new[] { Path.Join(link, name), Path.Join(fx.ExportPath, "..", Path.GetFileName(fx.ExportPath), name) })
        {
            var again = await Cli("recall", typed, "--json");
            Assert.True(again.ExitCode == 0, $"{typed}: {again}");
            Assert.Equal("/" + name, again.Json<RecallOutcome>().Path);
        }
        var directory = await Cli("recall", fx.ExportPath);
        Assert.Equal(1, directory.ExitCode);
        Assert.Contains("is a directory: recall names a file", directory.Stderr);
        var empty = await Cli("recall", "");
        Assert.Equal(2, empty.ExitCode);
        Assert.Contains("name the file", empty.Stderr);
    }

    [Fact]
    public async Task Revoke_takes_a_clients_state_its_SEQUENCE_says_so_and_another_clients_conflicting_open_succeeds()
    {
        var (root, name) = await NewFileAsync();
        await using var a = await ConnectAsync();
        await using var b = await ConnectAsync();
        var held = await HoldReadDelegationAsync(a, root, name, deny: ShareDeny.Write);
        Assert.Equal(NfsStat4.ShareDenied, (await b.Session.OpenAsync(root, name, ShareAccess.Write).Bounded()).Status);

        var revoke = await Cli("client", "revoke", a.Id, "--json");

        Assert.True(revoke.ExitCode == 0, revoke.ToString());
        var outcome = revoke.Json<RevokeOutcome>();
        Assert.Equal((a.Id, 1, 1), (outcome.Client, outcome.Opens, outcome.Delegations));
        var opened = await b.Session.OpenAsync(root, name, ShareAccess.Write).Bounded();
        Assert.Equal(NfsStat4.Ok, opened.Status);
        Assert.Equal(NfsStat4.Ok, await a.Session.RenewAsync().Bounded());
        Assert.NotEqual(0u, a.Session.LastSequenceStatusFlags & 0x20); // SEQ4_STATUS_ADMIN_STATE_REVOKED
        Assert.Equal(NfsStat4.AdminRevoked, (await a.Session.ReadAsync(held.FileHandle, held.StateId, 0, 5).Bounded()).Status);
        var tested = (await a.Session.TestStateIdAsync([held.StateId, held.Delegation.StateId]).Bounded()).ValueOrThrow();
        Assert.Equal([NfsStat4.AdminRevoked, NfsStat4.AdminRevoked], tested);

        // `client show` lists what was revoked and not yet freed (as knfsd's states file shows "admin-revoked").
        var shown = (await Cli("client", "show", a.Id, "--json")).Json<ClientStatesView>();
        Assert.Empty(shown.Opens);
        Assert.Empty(shown.Delegations);
        Assert.Equal([("DELEGATION", "/" + name, held.Delegation.StateId.ToString()), ("OPEN", "/" + name, held.StateId.ToString())],
            shown.Revoked.Select(r => (r.Kind, r.Path, r.StateId)).OrderBy(r => r.Kind));
        Assert.Equal(2, shown.Client.RevokedStates);
        var table = await Cli("client", "show", a.Id);
        Assert.Contains("ADMIN-REVOKED", table.Stdout);

        // The client frees what was revoked (as Linux does after TEST_STATEID), and the flag goes.
        Assert.Equal(NfsStat4.Ok, await a.Session.FreeStateIdAsync(held.StateId).Bounded());
        Assert.Equal(NfsStat4.Ok, await a.Session.FreeStateIdAsync(held.Delegation.StateId).Bounded());
        Assert.Equal(NfsStat4.Ok, await a.Session.RenewAsync().Bounded());
        Assert.Equal(0u, a.Session.LastSequenceStatusFlags & 0x20);
        shown = (await Cli("client", "show", a.Id, "--json")).Json<ClientStatesView>();
        Assert.Empty(shown.Revoked);
        Assert.DoesNotContain("ADMIN-REVOKED", (await Cli("client", "show", a.Id)).Stdout);
        Assert.Equal(NfsStat4.BadStateId, (await a.Session.ReadAsync(held.FileHandle, held.StateId, 0, 5).Bounded()).Status);
    }

    [Fact]
    public async Task Without_the_token_every_change_is_refused_and_nothing_changes_and_TCP_needs_it_for_views_too()
    {
        var (root, name) = await NewFileAsync();
        await using var a = await ConnectAsync();
        await HoldReadDelegationAsync(a, root, name);

        using var socket = fx.SocketClient();
        Assert.Equal(HttpStatusCode.OK, (await socket.GetAsync("api/clients")).StatusCode); // views over the socket: no secret
        Assert.Equal(HttpStatusCode.Unauthorized, (await socket.PostAsync($"api/clients/{a.Id}/revoke", null)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await socket.PostAsync($"api/recall?path=/{name}", null)).StatusCode);
        string wrongToken = Path.Join(fx.Root, "wrong.token");
        await File.WriteAllTextAsync(wrongToken, "not-the-token-not-the-token-not-the-token\n");
        var cli = await Cli("client", "revoke", a.Id, "--token-file", wrongToken);
        Assert.Equal(1, cli.ExitCode);
        Assert.Contains("the admin token sent is not this server's", cli.Stderr);

        Assert.Equal(1, (await Cli("clients", "--json")).Json<List<ClientView>>().Single(c => c.Id == a.Id).Delegations);
        Assert.False(a.Handler.Recalls.TryPeek(out _), "a refused recall sent CB_RECALL");

        using var tcp = fx.TcpClient();
        Assert.Equal(HttpStatusCode.Unauthorized, (await tcp.GetAsync("api/clients")).StatusCode);
        var wrongInBrowser = await tcp.GetAsync("/?token=not-the-token");
        Assert.Equal(HttpStatusCode.Unauthorized, wrongInBrowser.StatusCode);
        Assert.Contains("not this server's", await wrongInBrowser.Content.ReadAsStringAsync());
        var noToken = await AdminCli.RunAsync("status", "--admin", $"http://{fx.Admin.TcpEndPoint}", "--state-dir", Path.Join(fx.Root, "elsewhere"));
        Assert.Equal(1, noToken.ExitCode);
        Assert.Contains("--token-file", noToken.Stderr);
        Assert.Equal(HttpStatusCode.Unauthorized, (await tcp.GetAsync("metrics")).StatusCode);
        tcp.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", fx.Token);
        Assert.Equal(HttpStatusCode.OK, (await tcp.GetAsync("api/clients")).StatusCode);
    }

    /// <summary>How the CLI finds the server (its settings file), and the one line it prints when it cannot.</summary>
    [Fact]
    public async Task The_CLI_finds_the_server_through_its_settings_file_and_says_in_one_line_what_is_wrong()
    {
        string settings = Path.Join(fx.Root, "settings-" + Guid.NewGuid().ToString("N") + ".json");
        await File.WriteAllTextAsync(settings, System.Text.Json.JsonSerializer.Serialize(new { Export = new { Path = fx.ExportPath, StateDirectory = fx.StatePath } }));
        var viaSettings = await AdminCli.RunAsync("status", "--config", settings);
        Assert.True(viaSettings.ExitCode == 0, viaSettings.ToString());
        Assert.StartsWith("CLIENTS", viaSettings.Stdout);

        await File.WriteAllTextAsync(settings, "{ \"Export\": ");
        var broken = await AdminCli.RunAsync("status", "--config", settings);
        Assert.Equal(2, broken.ExitCode);
        Assert.Contains($"the settings file {settings}, line 1 is not valid JSON", broken.Stderr); // as serve says it

        // A socket left behind by a server that was killed: nobody listens on it (bound, never listening, refuses as one
        // does; closing it would remove the file).
        string dead = Path.Join(fx.Root, "dead-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dead);
        using var left = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        left.Bind(new UnixDomainSocketEndPoint(Path.Join(dead, "admin.sock")));
        var stale = await AdminCli.RunAsync("clients", "--state-dir", dead);
        Assert.Equal(1, stale.ExitCode);
        Assert.Contains("the server is not running", stale.Stderr);

        var nowhere = await AdminCli.RunAsync("clients", "--state-dir", Path.Join(fx.Root, "no-such-state"));
        Assert.Equal(1, nowhere.ExitCode);
        Assert.Contains("no server's admin socket", nowhere.Stderr);

        var help = await AdminCli.RunAsync("client", "show", "--help");
        Assert.True(help.ExitCode == 0, help.ToString());
        Assert.Contains("leasehold client show <id>", help.Stdout);
        var missing = await AdminCli.RunAsync("client", "show");
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("(see leasehold client show --help)", missing.Stderr);
    }
}
