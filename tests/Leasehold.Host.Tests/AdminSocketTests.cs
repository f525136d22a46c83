using System.Net;

namespace Leasehold.Host.Tests;

/// <summary>The admin endpoint never keeps the NFS server from starting: a socket path too long to bind is a warning.</summary>
public sealed class AdminSocketTests : IDisposable
{
    private readonly Scratch _scratch = new();

    [Fact]
    public async Task A_state_directory_too_deep_for_a_socket_serves_without_one_and_says_why()
    {
        _scratch.MakeDirectory("share");
        string deep = _scratch.MakeDirectory(string.Join('/', Enumerable.Repeat(new string('d', 40), 3)));

        await using var server = await LeaseholdCommand.ServeAsync(_scratch.Root,
            ["serve", "share", "--listen", $"{Scratch.UnusedLoopback()}:0"], new Dictionary<string, string> { ["LEASEHOLD_Export__StateDirectory"] = deep });

        Assert.Contains(server.Stdout, l => l.Contains("[5202] No admin socket:", StringComparison.Ordinal) && l.Contains("is longer than a Unix socket path may be (108 bytes)", StringComparison.Ordinal));
        Assert.False(File.Exists(Path.Join(deep, "admin.sock")));
        Assert.True(File.Exists(Path.Join(deep, "admin.token")));
    }

    [Fact]
    public async Task The_socket_is_the_owners_alone()
    {
        _scratch.MakeDirectory("share");
        await using var server = await LeaseholdCommand.ServeAsync(_scratch.Root, ["serve", "share", "--listen", $"{Scratch.UnusedLoopback()}:0"]);

        string socket = _scratch.PathOf(".leasehold-state/admin.sock");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(socket));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(_scratch.PathOf(".leasehold-state/admin.token")));
    }

    [Fact]
    public async Task The_endpoint_reads_and_watches_nothing_in_the_working_directory()
    {
        // Started from a directory with others below it (a system service starts in /), and an appsettings.json that a
        // default ASP.NET Core builder would read: the endpoint must neither watch the tree nor take an endpoint from it.
        _scratch.MakeDirectory("share");
        for (int i = 0; i < 20; i++)
            _scratch.MakeDirectory($"tree/d{i}/e");
        var stray = new IPEndPoint(Scratch.UnusedLoopback(), 8080); // an address of the test's own: nothing else listens there
        File.WriteAllText(_scratch.PathOf("appsettings.json"), $$"""{ "Kestrel": { "Endpoints": { "Http": { "Url": "http://{{stray}}" } } }, "Urls": "http://{{stray}}" }""");

        await using var server = await LeaseholdCommand.ServeAsync(_scratch.Root, ["serve", "share", "--listen", $"{Scratch.UnusedLoopback()}:0"]);
        Assert.True(File.Exists(_scratch.PathOf(".leasehold-state/admin.sock")));

        Assert.Equal(0, InotifyWatches(server.Pid));
        using var probe = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        var refused = await Assert.ThrowsAsync<System.Net.Sockets.SocketException>(async () => await probe.ConnectAsync(stray));
        Assert.Equal(System.Net.Sockets.SocketError.ConnectionRefused, refused.SocketErrorCode);
    }

    /// <summary>The inotify watches the process holds: the "inotify wd:" lines of its inotify descriptors' fdinfo.</summary>
    private static int InotifyWatches(int pid) =>
        Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd")
            .Where(fd => new FileInfo(fd).LinkTarget == "anon_inode:inotify")
            .Sum(fd => File.ReadLines($"/proc/{pid}/fdinfo/{Path.GetFileName(fd)}").Count(l => l.StartsWith("inotify wd:", StringComparison.Ordinal)));

    public void Dispose() => _scratch.Dispose();
}
