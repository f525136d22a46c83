using Leasehold.Host.Settings;

namespace Leasehold.Host.Tests;

/// <summary>
/// Issue 6 item 20: one unit everywhere. A bare number is seconds on the command line, in JSON and in the environment
/// ("90" never means 90 days); "90s", "1m30s" and "00:01:30" mean the same.
/// </summary>
public sealed class DurationTests : IDisposable
{
    private readonly Scratch _scratch = new();

    public void Dispose() => _scratch.Dispose();

    [Theory]
    [InlineData("90", 90_000)]
    [InlineData(" 90 ", 90_000)]
    [InlineData("90s", 90_000)]
    [InlineData("90 s", -1)]
    [InlineData("1m30s", 90_000)]
    [InlineData("1m", 60_000)]
    [InlineData("1.5m", 90_000)]
    [InlineData("2min", 120_000)]
    [InlineData("500ms", 500)]
    [InlineData("0.5", 500)]
    [InlineData("1h", 3_600_000)]
    [InlineData("1d", 86_400_000)]
    [InlineData("00:01:30", 90_000)]
    [InlineData("1.00:00:00", 86_400_000)]
    [InlineData("00:00:00.250", 250)]
    [InlineData("0", 0)]
    [InlineData("-1", -1_000)]
    [InlineData("1:30", -1)]
    [InlineData("abc", -1)]
    [InlineData("", -1)]
    [InlineData("90x", -1)]
    [InlineData("1m30", -1)]
    [InlineData("1.2.3", -1)]
    [InlineData("1e3", -1)]
    [InlineData("99999999999999999999", -1)]
    [InlineData("-", -1)]
    [InlineData("+", -1)]
    [InlineData("-+", -1)]
    [InlineData("+90", 90_000)]
    public void Durations_are_read_one_way(string text, long expectedMilliseconds)
    {
        bool ok = Duration.TryParse(text, out TimeSpan value, out string error);

        if (expectedMilliseconds == -1 && text != "-1")
        {
            Assert.False(ok, $"{text} read as {value}");
            Assert.NotEmpty(error);
        }
        else
        {
            Assert.True(ok, error);
            Assert.Equal(TimeSpan.FromMilliseconds(expectedMilliseconds), value);
        }
    }

    [Theory]
    [InlineData(90_000, "90s")]
    [InlineData(500, "500ms")]
    [InlineData(1_500, "1.5s")]
    [InlineData(0, "0s")]
    public void Durations_are_written_as_seconds(long milliseconds, string expected)
    {
        Assert.Equal(expected, Duration.Format(TimeSpan.FromMilliseconds(milliseconds)));
    }

    [Theory]
    [InlineData("cli", "90")]
    [InlineData("cli", "1m30s")]
    [InlineData("json-number", "90")]
    [InlineData("json", "90s")]
    [InlineData("json", "00:01:30")]
    [InlineData("env", "90")]
    [InlineData("env", "00:01:30")]
    public async Task LeaseTime_90_is_90_seconds_wherever_it_is_written(string where, string value)
    {
        _scratch.MakeDirectory("export");
        string listen = $"{Scratch.UnusedLoopback()}:0";
        Dictionary<string, string>? environment = null;
        List<string> args = ["serve", "--listen", listen];
        switch (where)
        {
            case "cli":
                args.AddRange(["--lease-time", value]);
                break;
            case "json-number":
                _scratch.Write("leasehold.json", $"{{\"Nfs4\":{{\"LeaseTime\":{value}}}}}");
                break;
            case "json":
                _scratch.Write("leasehold.json", $"{{\"Nfs4\":{{\"LeaseTime\":\"{value}\"}}}}");
                break;
            default:
                environment = new() { ["LEASEHOLD_Nfs4__LeaseTime"] = value };
                break;
        }

        await using var server = await LeaseholdCommand.ServeAsync(_scratch.Root, args, environment);

        Assert.Equal(90, server.LeaseSeconds);
    }

    [Fact]
    public async Task Engine_and_rpc_durations_take_the_same_forms()
    {
        // Before, "LeaseBreakTime": 45 meant 45 days and was refused as more than a day; now it is 45 seconds.
        // BoundIdleTimeout may be up to 7 days: the host's own bound (a year) leaves each class its range.
        _scratch.MakeDirectory("export");
        _scratch.Write("leasehold.json", """
            {"Engine":{"LeaseBreakTime":45,"LayoutBreakTime":"1m","DelegationRecallWindow":"00:00:30","IdleSweepInterval":"500ms"},
             "Rpc":{"IdleTimeout":"6m","BoundIdleTimeout":"2d","WarningWindow":60}}
            """);

        await using var server = await LeaseholdCommand.ServeAsync(_scratch.Root, ["serve", "--listen", $"{Scratch.UnusedLoopback()}:0"]);

        Assert.Equal(_scratch.PathOf("export"), server.ExportPath);
    }
}
