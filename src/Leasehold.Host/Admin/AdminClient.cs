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

    public AdminClient(string stateDirectory, string? url, string? tokenFile)
    {
        string? socket = null;
        if (url is null)
        {
            socket = Path.Join(stateDirectory, AdminSettings.SocketFileName);
            if (!File.Exists(socket))
                throw new AdminClientException($"no server's admin socket at {socket} (is `leasehold serve` running with this state directory? --state-dir names another)");
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
        try
        {
            string token = File.ReadAllText(tokenPath).Trim();
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
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
            throw new AdminClientException($"cannot reach the admin endpoint at {_where}: {ex.Message.TrimEnd('.')}");
        }
        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                string why = $"HTTP {(int)response.StatusCode}";
                try
                {
                    if (await response.Content.ReadFromJsonAsync<AdminError>(Json, ct).ConfigureAwait(false) is { Error: { } error })
                        why = error;
                }
                catch (JsonException)
                {
                }
                throw new AdminClientException(why, response.StatusCode);
            }
            return await response.Content.ReadFromJsonAsync<T>(Json, ct).ConfigureAwait(false)
                ?? throw new AdminClientException($"the admin endpoint at {_where} sent an empty answer");
        }
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>Why an admin command failed, in one line; <see cref="Status"/> is the HTTP status when the server answered.</summary>
internal sealed class AdminClientException(string message, HttpStatusCode? status = null) : Exception(message)
{
    public HttpStatusCode? Status { get; } = status;
}
