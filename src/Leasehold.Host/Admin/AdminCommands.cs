using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Leasehold.Export;
using Leasehold.Host.Serving;
using Leasehold.Nfs4.Admin;

namespace Leasehold.Host.Admin;

/// <summary>
/// The verbs that talk to a running server through its admin endpoint (<see cref="AdminEndpoint"/>):
/// <c>leasehold status | locks | clients | client show ID | client revoke ID | recall PATH</c>, each with
/// <c>--json</c> for scripts (the endpoint's JSON as it came), <c>--state-dir</c> or <c>--config</c> (which server:
/// where its admin.sock and admin.token are, found as <see cref="AdminTarget"/> says), <c>--admin URL</c> (TCP instead
/// of the socket) and <c>--token-file</c>. Exit status: 0 done, 1 refused or unreachable (one line on stderr), 2 a
/// usage error, 3 no such client or file.
/// </summary>
internal static class AdminCommands
{
    public static IEnumerable<Command> Create()
    {
        yield return Verb("status", "Show what the running server holds: clients, sessions, opens, delegations, recalls.",
            [], async (client, _, ct, json) =>
            {
                var s = await client.GetAsync<ServerSummary>("api/summary", ct).ConfigureAwait(false);
                return json ? Json(s) : Table(["CLIENTS", "COURTESY", "SESSIONS", "OPENS", "DELEGATIONS", "RECALLING", "GRANTS", "GRACE"],
                    [[N(s.Clients), N(s.CourtesyClients), N(s.Sessions), N(s.Opens), N(s.Delegations), N(s.Recalling), N(s.EngineGrants),
                        s.InGrace ? $"on: {Seconds(TimeSpan.FromSeconds(s.GraceSecondsLeft ?? 0))} left, {N(s.GraceClientsPending)} client(s) to reclaim" : "off"]]);
            });
        yield return Verb("locks", "List every delegation, lease and layout, byte-range lock and share reservation, like /proc/locks.",
            [], async (client, _, ct, json) =>
            {
                var rows = await client.GetAsync<List<LockView>>("api/locks", ct).ConfigureAwait(false);
                var now = DateTimeOffset.UtcNow;
                return json ? Json(rows) : Table(["FILE", "ID", "KIND", "MODE", "CLIENT", "HOLDER", "STATE", "AGE", "DEADLINE", "WAITING", "RANGE"],
                    rows.Select(r => new[] { r.Path ?? "?", N(r.FileId), r.Kind, r.Mode, r.Client ?? "-", r.Holder, r.State, Age(r.Granted, now), Left(r.Deadline, now), N(r.WaitingBreakers), r.Range ?? "" }));
            });
        yield return Verb("clients", "List the NFS clients: owner, address, minor version, lease, sessions, back channel, what they hold.",
            [], async (client, _, ct, json) =>
            {
                var rows = await client.GetAsync<List<ClientView>>("api/clients", ct).ConfigureAwait(false);
                return json ? Json(rows) : ClientTable(rows);
            });

        var id = new Argument<string>("id") { Description = "The client's id, as `leasehold clients` lists it (16 hex digits)." };
        var show = Verb("show", "client show", "Show a client and everything it holds (opens, byte-range locks, delegations).", [id], async (client, parse, ct, json) =>
        {
            var v = await client.GetAsync<ClientStatesView>($"api/clients/{Uri.EscapeDataString(parse.GetValue(id)!)}", ct).ConfigureAwait(false);
            if (json)
                return Json(v);
            var text = new StringBuilder(ClientTable([v.Client]));
            text.Append('\n').Append(Table(["OPEN", "FILE", "ID", "ACCESS", "DENY", "OWNER"], v.Opens.Select(o => new[] { o.StateId, o.Path, N(o.FileId), o.Access, o.Deny, o.OpenOwner })));
            text.Append('\n').Append(Table(["LOCK", "FILE", "ID", "TYPE", "RANGE", "OWNER"], v.Locks.Select(l => new[] { l.StateId, l.Path, N(l.FileId), l.Type, $"{l.Start}-{(l.End == ulong.MaxValue ? "EOF" : N(l.End))}", l.LockOwner })));
            text.Append('\n').Append(Table(["DELEGATION", "FILE", "ID", "TYPE", "STATUS"], v.Delegations.Select(d => new[] { d.StateId, d.Path, N(d.FileId), d.Type, d.Status })));
            if (v.Revoked.Count > 0)
                text.Append('\n').Append(Table(["ADMIN-REVOKED", "FILE", "ID", "KIND"], v.Revoked.Select(r => new[] { r.StateId, r.Path, N(r.FileId), r.Kind })));
            return text.ToString();
        });
        var revokeId = new Argument<string>("id") { Description = "The client's id, as `leasehold clients` lists it (16 hex digits)." };
        var revoke = Verb("revoke", "client revoke", "Revoke everything a client holds (its opens, locks and delegations); it is told, and recovers or not (needs the token).",
            [revokeId], async (client, parse, ct, json) =>
            {
                var r = await client.PostAsync<RevokeOutcome>($"api/clients/{Uri.EscapeDataString(parse.GetValue(revokeId)!)}/revoke", ct).ConfigureAwait(false);
                return json ? Json(r) : $"revoked client {r.Client}: {r.Opens} open(s), {r.Locks} lock state(s), {r.Delegations} delegation(s)" +
                    (r.ClientExpired ? "; its lease had run out (a courtesy client), so it is gone too\n" : "\n");
            });
        yield return new Command("client", "Show or revoke one client.") { show, revoke };

        var path = new Argument<string>("path") { Description = "The file: its path inside the export (/dir/file), or its full path on this machine." };
        yield return Verb("recall", "Recall every delegation on a file, e.g. before maintenance; returns at once (needs the token).", [path], async (client, parse, ct, json) =>
        {
            string given = parse.GetValue(path)!;
            if (string.IsNullOrWhiteSpace(given))
                throw new AdminClientException("name the file: its path inside the export (/dir/file), or its full path on this machine", usage: true);
            // A path that exists here is sent as the kernel sees it (symlinks, "." and ".." resolved), so the server can
            // tell a full path from one inside the export; any other is taken as inside the export.
            string sent = Path.Exists(given) && LocalDirectoryTree.CanonicalPath(given) is { } real ? real : given;
            var r = await client.PostAsync<RecallOutcome>($"api/recall?path={Uri.EscapeDataString(sent)}", ct).ConfigureAwait(false);
            return json ? Json(r) : $"{r.Path} (file {r.FileId}): {r.Recalling} delegation(s) being recalled\n";
        });
    }

    private delegate Task<string> VerbAction(AdminClient client, ParseResult parse, CancellationToken ct, bool json);

    private static Command Verb(string name, string description, Argument[] arguments, VerbAction action) =>
        Verb(name, name, description, arguments, action);

    private static Command Verb(string name, string fullName, string description, Argument[] arguments, VerbAction action)
    {
        var json = new Option<bool>("--json") { Description = "Print the admin endpoint's JSON instead of a table." };
        var stateDirectory = new Option<string?>("--state-dir") { Description = $"The server's state directory (default: from --config, ./{ServeCommand.DefaultConfigFile} or ./{ExportOptions.DefaultStateDirectoryName}, else the service's {AdminTarget.ServiceConfigFile}).", HelpName = "dir" };
        var config = new Option<string?>("--config") { Description = "The server's settings file: its state directory is the one used.", HelpName = "file" };
        var admin = new Option<string?>("--admin") { Description = "Reach the server over HTTP at this URL (its Admin:Listen) instead of the state directory's socket.", HelpName = "url" };
        var tokenFile = new Option<string?>("--token-file") { Description = "The admin token (default: admin.token in the state directory).", HelpName = "file" };
        var command = new Command(name, description) { json, stateDirectory, config, admin, tokenFile };
        foreach (var argument in arguments)
            command.Arguments.Add(argument);
        command.SetAction(async (parse, ct) =>
        {
            string? url = parse.GetValue(admin);
            if (url is not null && (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme != "http"))
            {
                Console.Error.WriteLine($"leasehold: --admin {url} is not an http:// URL such as http://127.0.0.1:{AdminSettings.DefaultPort}");
                return 2;
            }
            try
            {
                using var client = new AdminClient(AdminTarget.Resolve(parse.GetValue(stateDirectory), parse.GetValue(config)), url, parse.GetValue(tokenFile));
                Console.Out.Write(await action(client, parse, ct, parse.GetValue(json)).ConfigureAwait(false));
                return 0;
            }
            catch (AdminClientException ex)
            {
                Console.Error.WriteLine($"leasehold {fullName}: {ex.Message}");
                return ex.Usage ? 2 : ex.Status == HttpStatusCode.NotFound ? 3 : 1;
            }
        });
        return command;
    }

    private static string ClientTable(IEnumerable<ClientView> rows)
    {
        var now = DateTimeOffset.UtcNow;
        return Table(["ID", "OWNER", "ADDRESS", "VERS", "STATE", "LEASE", "SESSIONS", "CALLBACK", "OPENS", "LOCKS", "DELEGATIONS", "REVOKED"],
            rows.Select(c => new[] { c.Id, c.Owner, c.Address ?? "-", c.MinorVersion is { } m ? $"4.{m}" : "-", c.State,
                c.LeaseExpires < now ? "expired" : Left(c.LeaseExpires, now),
                N(c.Sessions), c.BackChannelUp ? "up" : "DOWN", N(c.Opens), N(c.Locks), N(c.Delegations), N(c.RevokedStates) }));
    }

    /// <summary>Columns padded to their widest cell, two spaces apart, a header line first; "(none)" under it when empty.</summary>
    internal static string Table(string[] header, IEnumerable<string[]> rows)
    {
        var all = rows.ToList();
        var widths = header.Select((h, i) => Math.Max(h.Length, all.Count == 0 ? 0 : all.Max(r => r[i].Length))).ToArray();
        var text = new StringBuilder();
        void Line(string[] cells) => text.Append(string.Join("  ", cells.Select((c, i) => i == cells.Length - 1 ? c : c.PadRight(widths[i]))).TrimEnd()).Append('\n');
        Line(header);
        foreach (var row in all)
            Line(row);
        if (all.Count == 0)
            text.Append("(none)\n");
        return text.ToString();
    }

    private static string Json<T>(T value) => JsonSerializer.Serialize(value, AdminClient.Json) + "\n";

    private static string N(long n) => n.ToString(CultureInfo.InvariantCulture);

    private static string N(ulong n) => n.ToString(CultureInfo.InvariantCulture);

    private static string Age(DateTimeOffset? since, DateTimeOffset now) => since is { } s ? Seconds(now - s) : "-";

    private static string Left(DateTimeOffset? until, DateTimeOffset now) => until is { } u ? Seconds(u - now) : "-";

    private static string Seconds(TimeSpan span) => $"{Math.Max(0, (long)Math.Round(span.TotalSeconds)).ToString(CultureInfo.InvariantCulture)}s";
}
