using Leasehold.Nfs4.Client;
using Leasehold.Nfs4.Protocol;

namespace Leasehold.IntegrationTests.Scheduling;

/// <summary>
/// The test process runs socket completions inline (inline-sockets.runsettings), as the leasehold command does, so
/// every integration test exercises the server on the socket event threads; and a COMMIT, which leaves them for the
/// thread pool (MayWaitOnDisk), still answers.
/// </summary>
public sealed class InlineCompletionTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    [Fact]
    public void The_test_process_runs_socket_completions_inline()
    {
        Assert.Equal("1", Environment.GetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS"));
        // With inline completions the runtime starts one socket event thread per core (without them, one in all here).
        int eventThreads = Directory.EnumerateDirectories("/proc/self/task")
            .Count(task => File.Exists(Path.Combine(task, "comm")) && ReadOrEmpty(Path.Combine(task, "comm")).StartsWith(".NET Sockets", StringComparison.Ordinal));
        Assert.Equal(Environment.ProcessorCount, eventThreads);
    }

    [Fact]
    public async Task Stable_and_large_writes_commit_and_large_reads_answer_from_the_thread_pool()
    {
        var session = fixture.Session;
        var file = (await session.CreateAsync(await fixture.RootAsync(), ServerFixture.NewName("pool")).Bounded()).ValueOrThrow();
        var data = new byte[256 * 1024]; // over the 64 KiB line both ways
        Random.Shared.NextBytes(data);

        var stable = await session.WriteAsync(file.FileHandle, file.StateId, 0, data.AsMemory(0, 1000), StableHow.FileSync).Bounded();
        Assert.Equal(NfsStat4.Ok, stable.Status);
        Assert.Equal(StableHow.FileSync, stable.Value!.Committed);
        var large = await session.WriteAsync(file.FileHandle, file.StateId, 0, data, StableHow.Unstable).Bounded();
        Assert.Equal(NfsStat4.Ok, large.Status);
        Assert.Equal((uint)data.Length, large.Value!.Count);
        Assert.Equal(NfsStat4.Ok, (await session.CommitAsync(file.FileHandle).Bounded()).Status);

        var back = await session.ReadAsync(file.FileHandle, file.StateId, 0, (uint)data.Length).Bounded();
        Assert.Equal(NfsStat4.Ok, back.Status);
        Assert.Equal(data, back.Value!.Data.ToArray());
        Assert.True((await session.CloseAsync(file.FileHandle, file.StateId).Bounded()).IsOk);
    }

    private static string ReadOrEmpty(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (IOException)
        {
            return ""; // the thread exited meanwhile
        }
    }
}
