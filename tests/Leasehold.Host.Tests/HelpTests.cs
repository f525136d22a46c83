using Leasehold.Host.Settings;

namespace Leasehold.Host.Tests;

/// <summary>Issue 6 item 21: <c>serve --help</c> says where settings come from and lists every key with its default.</summary>
public sealed class HelpTests : IDisposable
{
    private readonly Scratch _scratch = new();

    public void Dispose() => _scratch.Dispose();

    [Fact]
    public async Task Serve_help_lists_the_file_the_environment_and_every_key()
    {
        var outcome = await LeaseholdCommand.RunAsync(_scratch.Root, ["serve", "--help"]);

        Assert.Equal(0, outcome.ExitCode);
        Assert.Empty(outcome.Stderr);
        string help = string.Join('\n', outcome.Stdout);
        Assert.Contains("a JSON file (--config FILE, or ./leasehold.json when present)", help, StringComparison.Ordinal);
        Assert.Contains("environment variables LEASEHOLD_<Section>__<Key>", help, StringComparison.Ordinal);
        Assert.Contains(".leasehold-state/ beside the export holds the key that signs file handles", help, StringComparison.Ordinal);
        Assert.Contains("--create", help, StringComparison.Ordinal);
        foreach (var section in SettingsSchema.Sections)
        {
            foreach (var key in section.Keys)
                Assert.Contains(outcome.Stdout, line => line.TrimStart().StartsWith($"{section.Name}:{key.Name} ", StringComparison.Ordinal));
        }
        Assert.Contains(outcome.Stdout, line => line.Trim() is var t && t.StartsWith("Nfs4:LeaseTime ", StringComparison.Ordinal) && t.EndsWith(" 90s", StringComparison.Ordinal));
        Assert.Contains(outcome.Stdout, line => line.Trim() is var t && t.StartsWith("Server:Listen ", StringComparison.Ordinal) && t.EndsWith(" 127.0.0.1:2049", StringComparison.Ordinal));
        Assert.DoesNotContain("DelegationBreakTime", help, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_of_other_commands_has_no_settings_section()
    {
        var outcome = await LeaseholdCommand.RunAsync(_scratch.Root, ["demo", "--help"]);

        Assert.Equal(0, outcome.ExitCode);
        Assert.DoesNotContain(outcome.Stdout, l => l.StartsWith("Settings:", StringComparison.Ordinal));
    }
}
