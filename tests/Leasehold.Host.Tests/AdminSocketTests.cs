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

    public void Dispose() => _scratch.Dispose();
}
