namespace Leasehold.Host.Tests;

/// <summary>
/// Issue 6 item 15: every refused start is one line on stderr naming the setting, the file or the address, and a
/// non-zero exit: 2 for settings and usage, 1 for the machine. No stack trace, no "fail:" log, no "Unhandled exception".
/// </summary>
public sealed class RefusedStartTests : IDisposable
{
    private const string DurationForms = "write seconds such as 90, a unit such as 90s, 500ms, 1m30s, or hh:mm:ss such as 00:01:30";
    private readonly Scratch _scratch = new();

    public void Dispose() => _scratch.Dispose();

    private static void AssertNoTrace(Outcome outcome)
    {
        string all = string.Join('\n', outcome.Stdout.Concat(outcome.Stderr));
        Assert.DoesNotContain("fail:", all, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", all, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", all, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{", "line 1 is not valid JSON: Expected depth to be zero at the end of the JSON payload. There is an open JSON object or array that should be closed")]
    [InlineData("{\"Nfs4\": }", "line 1 is not valid JSON: '}' is an invalid start of a value")]
    [InlineData("{\n  \"Nfs4\": {\n    \"LeaseTime\": 90\n", "line 4 is not valid JSON: Expected depth to be zero at the end of the JSON payload. There is an open JSON object or array that should be closed")]
    public async Task A_leasehold_json_that_is_not_JSON_is_named_with_its_line(string text, string problem)
    {
        string path = _scratch.Write("leasehold.json", text);

        var outcome = await LeaseholdCommand.RunAsync(_scratch.Root, ["serve"]);

        Assert.Equal(2, outcome.ExitCode);
        Assert.Equal($"leasehold: the settings file {path}, {problem}", outcome.ErrorLine);
        AssertNoTrace(outcome);
    }

    [Theory]
    [InlineData("[1]", "is not a settings file: Top-level JSON element must be an object. Instead, 'Array' was found")]
    [InlineData("{\"a\": 1, \"a\": 2}", "is not a settings file: A duplicate key 'a' was found")]
    public async Task A_settings_file_that_is_JSON_but_not_settings_is_named(string text, string problem)
    {
        string path = _scratch.Write("settings.json", text);

        var outcome = await LeaseholdCommand.RunAsync(_scratch.Root, ["serve", "--config", "settings.json"]);

        Assert.Equal(2, outcome.ExitCode);
        Assert.Equal($"leasehold: the settings file {path} {problem}", outcome.ErrorLine);
        AssertNoTrace(outcome);
    }

    [Fact]
    public async Task A_missing_config_file_is_named()
    {
        var outcome = await LeaseholdCommand.RunAsync(_scratch.Root, ["serve", "--config", "nothere.json"]);

        Assert.Equal(2, outcome.ExitCode);
        Assert.Equal($"leasehold: the settings file {_scratch.PathOf("nothere.json")} does not exist", outcome.ErrorLine);
        AssertNoTrace(outcome);
    }

    [Fact]
    public async Task A_config_file_that_is_a_directory_is_named()
    {
        string path = _scratch.MakeDirectory("conf.d");

        var outcome = await LeaseholdCommand.RunAsync(_scratch.Root, ["serve", "--config", "conf.d"]);

        Assert.Equal(2, outcome.ExitCode);
        Assert.Equal($"leasehold: the settings file {path} is a directory", outcome.ErrorLine);
    }

    [Theory]
    [InlineData("""{"Nfs4":{"LeaseTime":"abc"}}""", "Nfs4:LeaseTime = \"abc\"", "is not a duration; " + DurationForms)]
    [InlineData("""{"Nfs4":{"LeaseTime":"1:30"}}""", "Nfs4:LeaseTime = \"1:30\"", "is ambiguous (minutes or hours?); write hh:mm:ss such as 00:01:30, or a unit such as 90s")]
    [InlineData("""{"Engine":{"IdleSweepInterval":"soon"}}""", "Engine:IdleSweepInterval = \"soon\"", "is not a duration; " + DurationForms)]
    [InlineData("""{"Rpc":{"MaxConnections":"lots"}}""", "Rpc:MaxConnections = \"lots\"", "is not a whole number (from -2147483648 to 2147483647)")]
    [InlineData("""{"Nfs4":{"MaxSessionSlots":1.5}}""", "Nfs4:MaxSessionSlots = \"1.5\"", "is not a whole number (from -2147483648 to 2147483647)")]
    [InlineData("""{"Export":{"ReadOnly":"yes"}}""", "Export:ReadOnly = \"yes\"", "must be true or false")]
    [InlineData("""{"Export":{"AnonymousUid":-1}}""", "Export:AnonymousUid = \"-1\"", "is out of range: a whole number from 0 to 4294967295")]
    [InlineData("""{"Nfs4":{"LeaseTime":null}}""", "Nfs4:LeaseTime = null", "has no value")]
    [InlineData("""{"Logging":{"LogLevel":{"Default":"Verbose"}}}""", "Logging:LogLevel:Default = \"Verbose\"", "must be one of Trace, Debug, Information, Warning, Error, Critical, None")]
    public async Task A_value_of_the_wrong_kind_is_named_with_its_file(string json, string setting, string problem)
    {
        string path = _scratch.Write("c.json", json);

        var outcome = await LeaseholdCommand.RunAsync(_scratch.Root, ["serve", "--config", "c.json"]);

        Assert.Equal(2, outcome.ExitCode);
        Assert.Equal($"leasehold: {setting} in {path} {problem}", outcome.ErrorLine);
        AssertNoTrace(outcome);
    }

    [Theory]
    [InlineData("LEASEHOLD_Nfs4__LeaseTime", "abc", "is not a duration; " + DurationForms)]
    [InlineData("LEASEHOLD_Rpc__MaxConnections", "lots", "is not a whole number (from -2147483648 to 2147483647)")]
    [InlineData("LEASEHOLD_Engine__LeaseBreakTime", "-1", "must not be negative")]
    public async Task A_value_of_the_wrong_kind_in_the_environment_names_the_variable(string variable, string value, string problem)
    {
        var outcome = await LeaseholdCommand.RunAsync(_scratch.Root, ["serve"], new Dictionary<string, string> { [variable] = value });

        Assert.Equal(2, outcome.ExitCode);
        Assert.Equal($"leasehold: {variable}=\"{value}\" {problem}", outcome.ErrorLine);
    }

    [Theory]
    [InlineData("abc", "is not a duration; " + DurationForms)]
    [InlineData("-5", "must not be negative")]
    [InlineData("400d", "is too long: 34560000s, more than a year")]
    public async Task A_bad_lease_time_on_the_command_line_names_the_option(string value, string problem)
    {
        var outcome = await LeaseholdCommand.RunAsync(_scratch.Root, ["serve", "--lease-time", value]);

        Assert.Equal(2, outcome.ExitCode);
        Assert.Equal($"leasehold: --lease-time \"{value}\" {problem}", outcome.ErrorLine);
    }

    [Theory]
    [InlineData("cli", "1", "leasehold: --lease-time \"1\": LeaseTime must be between 2 s and 1 h")]
    [InlineData("cli", "2h", "leasehold: --lease-time \"2h\": LeaseTime must be between 2 s and 1 h")]
    [InlineData("cli", "2d", "leasehold: --lease-time \"2d\": LeaseTime must be between 2 s and 1 h")]
    [InlineData("env", "0", "leasehold: LEASEHOLD_Nfs4__LeaseTime=\"0\": LeaseTime must be between 2 s and 1 h")]
    [InlineData("file", "7200", "leasehold: Nfs4:LeaseTime = \"7200\" in {file}: LeaseTime must be between 2 s and 1 h")]
    public async Task An_out_of_range_value_names_where_it_was_set(string where, string value, string expected)
    {
        string file = _scratch.Write("c.json", $"{{\"Nfs4\":{{\"LeaseTime\":\"{value}\"}}}}");
        var outcome = where switch
        {
            "cli" => await LeaseholdCommand.RunAsync(_scratch.Root, ["serve", "--lease-time", value]),
            "env" => await LeaseholdCommand.RunAsync(_scratch.Root, ["serve"], new Dictionary<string, string> { ["LEASEHOLD_Nfs4__LeaseTime"] = value }),
            _ => await LeaseholdCommand.RunAsync(_scratch.Root, ["serve", "--config", "c.json"]),
        };

        Assert.Equal(2, outcome.ExitCode);
        Assert.Equal(expected.Replace("{file}", file, StringComparison.Ordinal), outcome.ErrorLine);
        AssertNoTrace(outcome);
    }

    [Theory]
    [InlineData("""{"Rpc":{"MaxConnections":0}}""", "Rpc:MaxConnections = \"0\" in {file}: MaxConnections must be positive")]
    [InlineData("""{"Engine":{"IdleSweepInterval":0}}""", "Engine:IdleSweepInterval = \"0\" in {file}: IdleSweepInterval must be positive")]
    [InlineData("""{"Engine":{"LayoutBreakTime":"25h"}}""", "Engine:LayoutBreakTime = \"25h\" in {file}: LayoutBreakTime must be between 0 and 1 day")]
    [InlineData("""{"Rpc":{"IdleTimeout":0}}""", "Rpc:IdleTimeout = \"0\" in {file}: IdleTimeout must be between 1 s and 1 day")]
    [InlineData("""{"Rpc":{"IdleTimeout":"1h","BoundIdleTimeout":"10m"}}""", "Rpc:BoundIdleTimeout = \"10m\" in {file}: BoundIdleTimeout must be at least IdleTimeout and at most 7 days")]
    [InlineData("""{"Nfs4":{"MaxCachedReplySize":100}}""", "Nfs4:MaxCachedReplySize = \"100\" in {file}: MaxCachedReplySize must be between 512 bytes and 1 MiB")]
    [InlineData("""{"Nfs4":{"MaxSessionSlots":100000}}""", "Nfs4:MaxSessionSlots = \"100000\" in {file}: MaxSessionSlots must be between 1 and 1024")]
    [InlineData("""{"Nfs4":{"CallbackRetryDelay":"2m"}}""", "Nfs4:CallbackRetryDelay = \"2m\" in {file}: CallbackRetryDelay must be between 10 ms and 1 min")]
    [InlineData("""{"Export":{"Path":""}}""", "Export:Path = \"\" in {file}: Path (the exported directory) must be set")]
    public async Task Every_section_is_validated_before_the_server_listens(string json, string expected)
    {
        string file = _scratch.Write("c.json", json);

        var outcome = await LeaseholdCommand.RunAsync(_scratch.Root, ["serve", "--config", "c.json"]);

        Assert.Equal(2, outcome.ExitCode);
        Assert.Equal("leasehold: " + expected.Replace("{file}", file, StringComparison.Ordinal), outcome.ErrorLine);
        Assert.Empty(outcome.Stdout); // nothing started, so nothing logged "Listening"
    }

    [Fact]
    public async Task A_short_handle_key_is_named_with_what_to_do()
    {
        _scratch.MakeDirectory("share");
        string state = _scratch.MakeDirectory(".leasehold-state");
        string key = Path.Join(state, "handle-key");
        File.WriteAllBytes(key, [1, 2, 3, 4, 5]);

        // The key is read after the address is bound: listen where nothing else can be (CI machines may serve 2049).
        var outcome = await LeaseholdCommand.RunAsync(_scratch.Root, ["serve", "share", "--listen", $"{Scratch.UnusedLoopback()}:0"]);

        Assert.Equal(1, outcome.ExitCode);
        Assert.Equal($"leasehold: {key} has 5 bytes, not 32: restore it, or delete it to invalidate every handle", outcome.ErrorLine);
        AssertNoTrace(outcome);
    }

    [Theory]
    [InlineData("-1", "must not be negative")]
    [InlineData("2days", "is not a duration; " + DurationForms)]
    [InlineData("1e9", "is not a duration; " + DurationForms)]
    [InlineData("400d", "is too long: 34560000s, more than a year")]
    [InlineData("30h", ": the break time must be between 0 and 1 day")]
    public async Task A_bad_demo_break_time_is_one_line(string value, string problem)
    {
        var outcome = await LeaseholdCommand.RunAsync(_scratch.Root, ["demo", "--break-time", value]);

        Assert.Equal(2, outcome.ExitCode);
        string separator = problem.StartsWith(':') ? "" : " ";
        Assert.Equal($"leasehold: --break-time \"{value}\"{separator}{problem} (see leasehold demo --help)", outcome.ErrorLine);
        AssertNoTrace(outcome);
    }

    [Fact]
    public async Task The_demo_still_runs_to_the_end()
    {
        var outcome = await LeaseholdCommand.RunAsync(_scratch.Root, ["demo", "--break-time", "300ms"]);

        Assert.True(outcome.ExitCode == 0, outcome.ToString());
        Assert.Empty(outcome.Stderr);
        Assert.Contains("Done.", outcome.Stdout);
        Assert.Contains(outcome.Stdout, l => l.Contains("client 2's delegation was revoked at its deadline", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(new[] { "serve", "--lisen", "127.0.0.1:2049" }, "unknown option --lisen (did you mean --listen?) (see leasehold serve --help)")]
    [InlineData(new[] { "serve", "share", "--lisen", "127.0.0.1:2049" }, "unknown option --lisen (did you mean --listen?) (see leasehold serve --help)")]
    [InlineData(new[] { "demo", "--brake-time", "5" }, "unknown option --brake-time (did you mean --break-time?) (see leasehold demo --help)")]
    [InlineData(new[] { "serve", "share", "-l", "127.0.0.1:2049" }, "unknown option -l (see leasehold serve --help)")]
    [InlineData(new[] { "frobnicate" }, "unknown command frobnicate (commands: serve, demo, status, locks, clients, client, recall) (see leasehold --help)")]
    [InlineData(new[] { "serv" }, "unknown command serv (did you mean serve?) (see leasehold --help)")]
    [InlineData(new[] { "serve", "share", "other" }, "unexpected argument other (see leasehold serve --help)")]
    public async Task A_mistyped_option_or_command_is_named_with_the_nearest_one(string[] args, string expected)
    {
        // Before: "serve share --lisen" named no option, and "frobnicate" said "Required command was not provided".
        var outcome = await LeaseholdCommand.RunAsync(_scratch.Root, args);

        Assert.Equal(2, outcome.ExitCode);
        Assert.Equal("leasehold: " + expected, outcome.ErrorLine);
    }
}
