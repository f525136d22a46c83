using System.Globalization;
using System.Reflection;
using Leasehold.Export;
using Leasehold.Nfs4.Admin;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Leasehold.Host.Admin;

/// <summary>
/// The admin endpoint's routes. JSON bodies use the web defaults (camelCase). Errors are <see cref="AdminError"/> with
/// 400 (a bad client id or path), 404 (no such client or file) or 401 (no token; see <see cref="AdminEndpoint"/>).
/// <list type="table">
/// <item><term>GET /api/summary</term><description><see cref="ServerSummary"/></description></item>
/// <item><term>GET /api/clients</term><description><see cref="ClientView"/>[]</description></item>
/// <item><term>GET /api/clients/{id}</term><description><see cref="ClientStatesView"/> (id: 16 hex digits)</description></item>
/// <item><term>POST /api/clients/{id}/revoke</term><description><see cref="RevokeOutcome"/></description></item>
/// <item><term>GET /api/locks</term><description><see cref="LockView"/>[]</description></item>
/// <item><term>POST /api/recall?path=P</term><description><see cref="RecallOutcome"/>; P inside the export ("/a/b"), or the file's full path on this machine</description></item>
/// <item><term>GET /api/rates</term><description><see cref="StatusFeed.Rates"/>: COMPOUNDs per second over the last minute and recent recall round trips</description></item>
/// <item><term>GET /</term><description>the status page</description></item>
/// </list>
/// </summary>
internal static class AdminRoutes
{
    public static void Map(IEndpointRouteBuilder app, ServerAdmin admin, StatusFeed? feed, string exportPath)
    {
        exportPath = LocalDirectoryTree.CanonicalPath(exportPath) ?? exportPath; // the CLI sends full paths as realpath(3) gives them
        var api = app.MapGroup("/api");
        api.MapGet("/summary", () => Results.Json(admin.Summary()));
        api.MapGet("/clients", () => Results.Json(admin.Clients()));
        api.MapGet("/clients/{id}", (string id) =>
            ParseClientId(id) is not { } clientId ? BadClientId(id)
            : admin.Client(clientId) is { } states ? Results.Json(states)
            : NoClient(id));
        api.MapPost("/clients/{id}/revoke", (string id) =>
            ParseClientId(id) is not { } clientId ? BadClientId(id)
            : admin.RevokeClientState(clientId) is { } outcome ? Results.Json(outcome)
            : NoClient(id));
        api.MapGet("/locks", () => Results.Json(admin.Locks()));
        api.MapPost("/recall", async (string? path, CancellationToken ct) =>
        {
            if (string.IsNullOrWhiteSpace(path))
                return Results.Json(new AdminError("name the file: /api/recall?path=/dir/file"), statusCode: StatusCodes.Status400BadRequest);
            var (status, outcome) = await admin.RecallAsync(InsideExport(path, exportPath), ct).ConfigureAwait(false);
            return status switch
            {
                FsStatus.Ok => Results.Json(outcome),
                FsStatus.NotFound or FsStatus.NotDirectory => Results.Json(new AdminError(
                    $"{path}: no such file in the export {exportPath} (name it by its path inside the export, /dir/file, or its full path under {exportPath})"),
                    statusCode: StatusCodes.Status404NotFound),
                FsStatus.IsDirectory => Results.Json(new AdminError(
                    $"{path} is a directory: recall names a file (every file below it: find DIR -type f -exec leasehold recall {{}} \\;)"),
                    statusCode: StatusCodes.Status400BadRequest),
                FsStatus.InvalidName => Results.Json(new AdminError($"{path}: name the file without \".\" or \"..\" parts"), statusCode: StatusCodes.Status400BadRequest),
                _ => Results.Json(new AdminError($"{path}: {status}"), statusCode: StatusCodes.Status400BadRequest),
            };
        });
        api.MapGet("/rates", () => Results.Json(feed?.Rates() ?? StatusFeed.Off));
        app.MapGet("/", () => Results.Text(StatusPage.Value, "text/html; charset=utf-8"));
    }

    /// <summary>A path as the engine's tree takes it: the part inside the export of a full path that lies in it, else the path as given.</summary>
    internal static string InsideExport(string path, string exportPath) =>
        path.StartsWith(exportPath + "/", StringComparison.Ordinal) ? path[exportPath.Length..]
        : path == exportPath ? "/"
        : path;

    private static ulong? ParseClientId(string id) =>
        id.Length is > 0 and <= 16 && ulong.TryParse(id, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong value) ? value : null;

    private static IResult BadClientId(string id) =>
        Results.Json(new AdminError($"{id} is not a client id (16 hex digits, as `leasehold clients` lists them)"), statusCode: StatusCodes.Status400BadRequest);

    private static IResult NoClient(string id) =>
        Results.Json(new AdminError($"no client {id} (it may have gone; `leasehold clients` lists them)"), statusCode: StatusCodes.Status404NotFound);

    /// <summary>The status page, a single HTML file embedded in the assembly.</summary>
    private static readonly Lazy<string> StatusPage = new(() =>
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("Leasehold.Host.Admin.status.html")
            ?? throw new InvalidOperationException("the status page is not embedded");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    });
}
