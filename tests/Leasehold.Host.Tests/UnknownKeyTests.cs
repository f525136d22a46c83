namespace Leasehold.Host.Tests;

/// <summary>
/// Issue 6 item 16: a key our sections do not have is refused, naming it, where it was set, and the nearest known key,
/// in the settings file and in the environment; so is a key that exists on a class but is not a setting.
/// </summary>
public sealed class UnknownKeyTests : IDisposable
{
    private readonly Scratch _scratch = new();

    public void Dispose() => _scratch.Dispose();

    [Theory]
    [InlineData("""{"Export":{"ReadOnyl":true}}""", "unknown setting Export:ReadOnyl in {file} (did you mean Export:ReadOnly?)")]
    [InlineData("""{"Export":{"readonly":true,"RootSqash":true}}""", "unknown setting Export:RootSqash in {file} (did you mean Export:RootSquash?)")]
    [InlineData("""{"Nfs4":{"LeaseTimeout":90}}""", "unknown setting Nfs4:LeaseTimeout in {file} (did you mean Nfs4:LeaseTime?)")]
    [InlineData("""{"Server":{"Address":"127.0.0.1"}}""", "unknown setting Server:Address in {file} (known in Server: Listen)")]
    [InlineData("""{"Exprot":{"ReadOnly":true}}""", "unknown section Exprot in {file} (did you mean Export?)")]
    [InlineData("""{"Options":{"ReadOnly":true}}""", "unknown section Options in {file} (known sections: Server, Export, Nfs4, Engine, Rpc, Cluster, Admin, Logging)")]
    [InlineData("""{"Engine":{"DelegationBreakTime":5}}""", "Engine:DelegationBreakTime in {file} is not a setting: a delegation holder gets one lease period to answer a recall, so set Nfs4:LeaseTime")]
    [InlineData("""{"Export":{"ReadOnly":{"Value":true}}}""", "Export:ReadOnly in {file} takes a single value, not a section or a list")]
    [InlineData("""{"Export":true}""", "Export in {file} must be a section of settings such as Export:Path, not a value")]
    [InlineData("""{"Logging":{"LogLevl":{"Default":"Debug"}}}""", "unknown setting Logging:LogLevl in {file} (did you mean Logging:LogLevel?)")]
    [InlineData("""{"Logging":{"Level":"Debug"}}""", "unknown setting Logging:Level in {file} (known in Logging: LogLevel, Console)")]
    [InlineData("""{"Logging":{"LogLevel":"Debug"}}""", "Logging:LogLevel in {file} takes one level per category, such as Logging:LogLevel:Default, not a value")]
    [InlineData("""{"Logging":"Debug"}""", "Logging in {file} must be a section of settings such as Logging:LogLevel:Default, not a value")]
    [InlineData("""{"Logging":{"LogLevel":{"Default":{"Level":"Debug"}}}}""", "Logging:LogLevel:Default in {file} takes a single value, not a section or a list")]
    public async Task An_unknown_key_in_the_file_is_refused(string json, string expected)
    {
        string file = _scratch.Write("leasehold.json", json);
        _scratch.MakeDirectory("export");

        var outcome = await LeaseholdCommand.RunAsync(_scratch.Root, ["serve"]);

        Assert.Equal(2, outcome.ExitCode);
        Assert.Equal("leasehold: " + expected.Replace("{file}", file, StringComparison.Ordinal), outcome.ErrorLine);
        Assert.Empty(outcome.Stdout);
    }

    [Theory]
    [InlineData("LEASEHOLD_Export__ReadOnyl", "unknown setting LEASEHOLD_Export__ReadOnyl (did you mean Export:ReadOnly?)")]
    [InlineData("LEASEHOLD_Exprot__ReadOnly", "unknown section LEASEHOLD_Exprot (did you mean Export?)")]
    public async Task An_unknown_key_in_the_environment_is_refused(string variable, string expected)
    {
        var outcome = await LeaseholdCommand.RunAsync(_scratch.Root, ["serve"], new Dictionary<string, string> { [variable] = "true" });

        Assert.Equal(2, outcome.ExitCode);
        Assert.Equal("leasehold: " + expected, outcome.ErrorLine);
    }

    [Fact]
    public async Task A_LEASEHOLD_variable_that_is_not_a_section_is_left_alone()
    {
        // LEASEHOLD_TEST_NFS belongs to the client tests; it is no setting of the server's and must not stop it.
        _scratch.MakeDirectory("export");
        await using var server = await LeaseholdCommand.ServeAsync(_scratch.Root,
            ["serve", "--listen", $"{Scratch.UnusedLoopback()}:0"],
            new Dictionary<string, string> { ["LEASEHOLD_TEST_NFS"] = "127.0.0.1:20490/export" });

        Assert.Equal(_scratch.PathOf("export"), server.ExportPath);
    }

    [Fact]
    public async Task Keys_are_matched_without_regard_to_case_as_the_binder_does()
    {
        _scratch.Write("leasehold.json", """{"export":{"readonly":true},"nfs4":{"leasetime":"45"}}""");
        _scratch.MakeDirectory("export");

        await using var server = await LeaseholdCommand.ServeAsync(_scratch.Root, ["serve", "--listen", $"{Scratch.UnusedLoopback()}:0"]);

        Assert.Equal("read-only", server.Access);
        Assert.Equal(45, server.LeaseSeconds);
    }
}
