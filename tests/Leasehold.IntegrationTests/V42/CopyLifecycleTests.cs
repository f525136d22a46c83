using Leasehold.Nfs4.Client;
using Leasehold.Nfs4.Client.Callbacks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Leasehold.IntegrationTests.V42;

/// <summary>A server whose offload events (ids 43xx, Debug) a test reads.</summary>
public sealed class OffloadLogFixture : ServerFixture
{
    public LogCapture Log { get; } = new();

    protected override void ConfigureServices(IServiceCollection services) => services.AddSingleton<ILoggerProvider>(Log);

    protected override void Configure(IDictionary<string, string?> settings) =>
        settings["Logging:LogLevel:Leasehold.Nfs4.Nfs4Server"] = "Debug";

    /// <summary>The "asynchronous COPY ended" entries (4300) logged so far.</summary>
    public IEnumerable<LogEntry> OffloadsEnded => Log.Entries.Where(e => e.EventId == 4300);
}

/// <summary>
/// What stops an asynchronous COPY besides OFFLOAD_CANCEL (RFC 7862 §4.8): its client going away (DESTROY_CLIENTID,
/// expiry), and the server stopping (<see cref="CopyShutdownTests"/>). Neither sends a CB_OFFLOAD.
/// </summary>
public sealed class CopyLifecycleTests(OffloadLogFixture fx) : IClassFixture<OffloadLogFixture>
{
    private const long GiB = 1L << 30;

    internal static Task<(FileHandle Source, FileHandle Destination, string DestinationPath)> FilesAsync(ServerFixture fx) => MakeFilesAsync(fx);

    private Task<(FileHandle Source, FileHandle Destination, string DestinationPath)> FilesAsync() => MakeFilesAsync(fx);

    private static async Task<(FileHandle Source, FileHandle Destination, string DestinationPath)> MakeFilesAsync(ServerFixture fx)
    {
        string source = ServerFixture.NewName("sparse"), destination = ServerFixture.NewName("copy");
        await using (var f = new FileStream(Path.Join(fx.ExportPath, source), FileMode.CreateNew))
            f.SetLength(GiB);
        await File.WriteAllBytesAsync(Path.Join(fx.ExportPath, destination), []);
        var root = await fx.RootAsync();
        return ((await fx.Session.LookupAsync(root, source).Bounded()).ValueOrThrow(),
            (await fx.Session.LookupAsync(root, destination).Bounded()).ValueOrThrow(), Path.Join(fx.ExportPath, destination));
    }

    internal static async Task<StateId> StartCopyAsync(Nfs4Session session, FileHandle source, FileHandle destination)
    {
        using var c = new CompoundBuilder("copy").PutFh(source).SaveFh().PutFh(destination).Copy(default, default, 0, 0, 0, synchronous: false);
        var reply = await session.CompoundAsync(c).Bounded();
        Assert.True(reply.IsOk, reply.ToString());
        return Assert.NotNull(reply.Get<CopyResult>().CallbackId);
    }

    [Fact]
    public async Task DESTROY_CLIENTID_stops_the_clients_copies_without_a_CB_OFFLOAD()
    {
        var (source, destination, destinationPath) = await FilesAsync();
        var handler = new RecordingCallbackHandler();
        var session = await fx.ConnectAsync(options: new Nfs4SessionOptions { MinorVersion = 2, CallbackHandler = handler });
        try
        {
            await StartCopyAsync(session, source, destination);

            Assert.Equal(NfsStat4.Ok, await session.DestroySessionAsync().Bounded());
            Assert.Equal(NfsStat4.Ok, await session.DestroyClientIdAsync().Bounded());

            await Waits.WaitUntilAsync(() => fx.OffloadsEnded.Any(), "the destroyed client's copy ends");
            var ended = Assert.Single(fx.OffloadsEnded);
            Assert.Contains("cancelled True", ended.Message); // stopped, not run to its end
            Assert.True(new FileInfo(destinationPath).Length < GiB, "the copy stopped short");
        }
        finally
        {
            await session.DisposeAsync();
            File.Delete(destinationPath);
        }
    }
}

/// <summary>Stopping the server stops every running asynchronous COPY and waits for it (a fixture of its own: it restarts the server).</summary>
public sealed class CopyShutdownTests(OffloadLogFixture fx) : IClassFixture<OffloadLogFixture>
{
    private const long GiB = 1L << 30;

    [Fact]
    public async Task Stopping_the_server_stops_running_copies_and_waits_for_them()
    {
        var (source, destination, destinationPath) = await CopyLifecycleTests.FilesAsync(fx);
        var handler = new RecordingCallbackHandler();
        var session = await fx.ConnectAsync(options: new Nfs4SessionOptions { MinorVersion = 2, CallbackHandler = handler });
        try
        {
            await CopyLifecycleTests.StartCopyAsync(session, source, destination);
            int endedBefore = fx.OffloadsEnded.Count();

            await fx.RestartAsync(); // stops the server (and waits for its copies), then starts a new one

            // Logged by the copy's own thread before the server's stop returned: the stop waited for it.
            var ended = Assert.Single(fx.OffloadsEnded.Skip(endedBefore));
            Assert.Contains("cancelled True", ended.Message);
            long stoppedAt = new FileInfo(destinationPath).Length;
            Assert.True(stoppedAt < GiB, $"the copy stopped short ({stoppedAt} bytes)");
        }
        finally
        {
            await session.DisposeAsync();
            File.Delete(destinationPath);
        }
    }
}
