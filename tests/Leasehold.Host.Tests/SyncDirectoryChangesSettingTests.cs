using Leasehold.Export;
using Leasehold.Host.Settings;

namespace Leasehold.Host.Tests;

/// <summary>
/// Issue 10 item 5: Export:SyncDirectoryChanges (on by default, exports(5) sync) reaches the export from the settings
/// file, the environment and <c>--async-directory-changes</c>, and the "Serving" line says which is in force.
/// </summary>
public sealed class SyncDirectoryChangesSettingTests : IDisposable
{
    private readonly Scratch _scratch = new();

    public void Dispose() => _scratch.Dispose();

    [Fact]
    public void The_default_is_true_and_the_help_says_so()
    {
        var section = SettingsSchema.Find("Export")!;

        Assert.True(new ExportOptions().SyncDirectoryChanges);
        Assert.Equal("true", SettingsSchema.FormatDefault(section, section.Find("SyncDirectoryChanges")!, new ExportOptions()));
    }

    [Fact]
    public async Task A_server_started_without_the_setting_syncs_directory_changes()
    {
        _scratch.MakeDirectory("export");

        await using var server = await LeaseholdCommand.ServeAsync(_scratch.Root, ["serve", "--listen", $"{Scratch.UnusedLoopback()}:0"]);

        Assert.Equal("sync", server.DirectoryChanges);
    }

    [Fact]
    public async Task The_command_line_flag_turns_it_off()
    {
        _scratch.MakeDirectory("export");

        await using var server = await LeaseholdCommand.ServeAsync(_scratch.Root, ["serve", "--listen", $"{Scratch.UnusedLoopback()}:0", "--async-directory-changes"]);

        Assert.Equal("async", server.DirectoryChanges);
    }

    [Fact]
    public async Task The_settings_file_turns_it_off_and_the_environment_back_on()
    {
        _scratch.MakeDirectory("export");
        _scratch.Write("leasehold.json", """{"Export":{"SyncDirectoryChanges":false}}""");

        await using (var fromFile = await LeaseholdCommand.ServeAsync(_scratch.Root, ["serve", "--listen", $"{Scratch.UnusedLoopback()}:0"]))
            Assert.Equal("async", fromFile.DirectoryChanges);

        await using var fromEnvironment = await LeaseholdCommand.ServeAsync(_scratch.Root, ["serve", "--listen", $"{Scratch.UnusedLoopback()}:0"],
            new Dictionary<string, string> { ["LEASEHOLD_Export__SyncDirectoryChanges"] = "true" });
        Assert.Equal("sync", fromEnvironment.DirectoryChanges);
    }

    [Fact]
    public async Task A_value_that_is_not_a_boolean_is_refused_with_one_line()
    {
        _scratch.MakeDirectory("export");

        var outcome = await LeaseholdCommand.RunAsync(_scratch.Root, ["serve"], new Dictionary<string, string> { ["LEASEHOLD_Export__SyncDirectoryChanges"] = "sometimes" });

        Assert.Equal(2, outcome.ExitCode);
        Assert.Equal("leasehold: LEASEHOLD_Export__SyncDirectoryChanges=\"sometimes\" must be true or false", outcome.ErrorLine);
    }
}
