using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;

namespace Leasehold.Host.Admin;

/// <summary>
/// The CLI's way to a running server's admin endpoint: HTTP over the Unix socket in the state directory (the default),
/// or over TCP to an address the server was told to listen on (<c>--admin http://127.0.0.1:9049</c>). Sends the token
/// from the state directory's admin.token when it can read it (every change needs it; TCP needs it always).
/// Failures are <see cref="AdminClientException"/> with one line that says what to do.
/// </summary>
internal sealed class AdminClient : IDisposable
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    private readonly HttpClient _http;
    private readonly string _where;
    private readonly string _tokenPath;
    private readonly bool _tokenSent;

    public AdminClient(AdminTarget target, string? url, string? tokenFile)
    {
        string stateDirectory = target.StateDirectory;
        string? socket = null;
        if (url is null)
        {
            socket = Path.Join(stateDirectory, AdminSettings.SocketFileName);
            if (!File.Exists(socket))
                throw new AdminClientException(Unreadable(stateDirectory) is { } why
                    ? $"cannot look into the state directory {stateDirectory} ({why}): run this as the user the server runs as"
                    : $"no server's admin socket at {socket} (state directory from {target.Source}); is `leasehold serve` running? " +
                      "--state-dir or --config name another server's");
        }
        var handler = new SocketsHttpHandler();
        if (socket is not null)
        {
            handler.ConnectCallback = async (_, ct) =>
            {
                var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await s.ConnectAsync(new UnixDomainSocketEndPoint(socket), ct).ConfigureAwait(false);
                    return new NetworkStream(s, ownsSocket: true);
                }
                catch
                {
                    s.Dispose();
                    throw;
                }
            };
        }
        _http = new HttpClient(handler) { BaseAddress = new Uri(url ?? "http://leasehold/"), Timeout = TimeSpan.FromSeconds(30) };
        _where = socket ?? url!;
        string tokenPath = tokenFile ?? Path.Join(stateDirectory, AdminToken.FileName);
        _tokenPath = tokenPath;
        try
        {
            string token = File.ReadAllText(tokenPath).Trim();
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
            _tokenSent = true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException && tokenFile is null)
        {
            // No token: views over the socket still work; a change gets the server's 401, which says what is missing.
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new AdminClientException($"cannot read the token file {tokenPath}: {ex.Message.TrimEnd('.')}");
        }
    }

    public Task<T> GetAsync<T>(string path, CancellationToken ct) => SendAsync<T>(HttpMethod.Get, path, ct);

    public Task<T> PostAsync<T>(string path, CancellationToken ct) => SendAsync<T>(HttpMethod.Post, path, ct);

    private async Task<T> SendAsync<T>(HttpMethod method, string path, CancellationToken ct)
    {
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(new HttpRequestMessage(method, path), ct).ConfigureAwait(false);
        }
        catch (HttpRequestException ex)
        {
            throw new AdminClientException((ex.InnerException as SocketException)?.SocketErrorCode switch
            {
                SocketError.ConnectionRefused when _where.StartsWith('/') =>
                    $"the server is not running: {_where} refuses connections (a server that was killed leaves its socket behind)",
                SocketError.AccessDenied => $"permission denied on {_where}: run this as the user the server runs as",
                _ => $"cannot reach the admin endpoint at {_where}: {(ex.InnerException ?? ex).Message.TrimEnd('.')}",
            });
        }
        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                string why = (int)response.StatusCode >= 500
                    ? $"HTTP {(int)response.StatusCode} from {_where}; the server's log says why"
                    : $"HTTP {(int)response.StatusCode} from {_where} (is it a Leasehold admin endpoint?)";
                try
                {
                    if (await response.Content.ReadFromJsonAsync<AdminError>(Json, ct).ConfigureAwait(false) is { Error: { } error })
                        why = error;
                }
                catch (Exception ex) when (ex is JsonException or NotSupportedException)
                {
                    // not our JSON: keep the status line
                }
                if (response.StatusCode == HttpStatusCode.Unauthorized && !_tokenSent)
                    why += $"; none was sent: there is none to read at {_tokenPath} (--token-file names the file)";
                throw new AdminClientException(why, response.StatusCode);
            }
            return await response.Content.ReadFromJsonAsync<T>(Json, ct).ConfigureAwait(false)
                ?? throw new AdminClientException($"the admin endpoint at {_where} sent an empty answer");
        }
    }

    public void Dispose() => _http.Dispose();

    /// <summary>Why <paramref name="directory"/> exists but cannot be listed (permissions), or null.</summary>
    private static string? Unreadable(string directory)
    {
        try
        {
            if (Directory.Exists(directory))
                _ = Directory.EnumerateFileSystemEntries(directory).Any();
            return null;
        }
        catch (Exception ex) when (ex is UnauthorizedAccessException or IOException)
        {
            return ex is UnauthorizedAccessException ? "permission denied" : ex.Message.TrimEnd('.');
        }
    }
}

/// <summary>
/// Why an admin command failed, in one line; <see cref="Status"/> is the HTTP status when the server answered, and
/// <see cref="Usage"/> says the command line itself was wrong (exit status 2).
/// </summary>
internal sealed class AdminClientException(string message, HttpStatusCode? status = null, bool usage = false) : Exception(message)
{
    public HttpStatusCode? Status { get; } = status;

    public bool Usage { get; } = usage;
}
