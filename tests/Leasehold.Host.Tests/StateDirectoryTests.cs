namespace Leasehold.Host.Tests;

/// <summary>
/// Issue 10's faults at start: a second server on a state directory that one uses, and client records that cannot be
/// read. Both refuse the start with one line and exit 1 (the machine, not the settings).
/// </summary>
public sealed class StateDirectoryTests : IDisposable
{
    private readonly Scratch _scratch = new();

    public void Dispose() => _scratch.Dispose();

    [Fact]
    public async Task A_second_server_on_the_same_state_directory_is_refused_with_the_first_ones_pid()
    {
        _scratch.MakeDirectory("a");
        _scratch.MakeDirectory("b"); // another export, but the same default state directory beside both
        await using var first = await LeaseholdCommand.ServeAsync(_scratch.Root, ["serve", "a", "--listen", $"{Scratch.UnusedLoopback()}:0"]);

        var outcome = await LeaseholdCommand.RunAsync(_scratch.Root, ["serve", "b", "--listen", $"{Scratch.UnusedLoopback()}:0"]);

        Assert.Equal(1, outcome.ExitCode);
        Assert.Equal($"leasehold: the state directory {_scratch.PathOf(".leasehold-state")} is in use by another leasehold (pid {first.Pid}); give this one its own with Export:StateDirectory", outcome.ErrorLine);
    }

    [Fact]
    public async Task Client_records_that_are_not_a_database_refuse_the_start_with_one_line()
    {
        _scratch.MakeDirectory("share");
        string state = _scratch.MakeDirectory(".leasehold-state");
        string database = Path.Join(state, "clients.db");
        await File.WriteAllTextAsync(database, new string('x', 8192));

        var outcome = await LeaseholdCommand.RunAsync(_scratch.Root, ["serve", "share", "--listen", $"{Scratch.UnusedLoopback()}:0"]);

        Assert.Equal(1, outcome.ExitCode);
        Assert.Equal($"leasehold: the client records in {database} are unreadable (SQLite Error 26: 'file is not a database'); " +
            "move the file aside to start without a grace period (clients will not be able to reclaim their opens and locks)", outcome.ErrorLine);
        Assert.DoesNotContain(outcome.Stdout, l => l.Contains("Serving", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_stopped_server_leaves_its_records_and_releases_the_directory()
    {
        _scratch.MakeDirectory("share");
        await using (var first = await LeaseholdCommand.ServeAsync(_scratch.Root, ["serve", "share", "--listen", $"{Scratch.UnusedLoopback()}:0"]))
        {
        } // killed: the kernel drops its flock with the process
        await using var second = await LeaseholdCommand.ServeAsync(_scratch.Root, ["serve", "share", "--listen", $"{Scratch.UnusedLoopback()}:0"]);
        Assert.True(File.Exists(_scratch.PathOf(".leasehold-state/clients.db")));
        Assert.Equal(second.Pid, Leasehold.Recovery.StateDirectoryLock.HolderPid(_scratch.PathOf(".leasehold-state")));
    }
}
