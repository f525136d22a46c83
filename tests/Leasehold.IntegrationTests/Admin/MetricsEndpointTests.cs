using System.Diagnostics;
using System.Text.Json;
using Leasehold.Nfs4.Client;

namespace Leasehold.IntegrationTests.Admin;

/// <summary>Runs where Debian's python3-prometheus-client is installed (CI installs it); skips elsewhere, saying why.</summary>
public sealed class PrometheusParserFactAttribute : FactAttribute
{
    public const string Package = "/usr/lib/python3/dist-packages/prometheus_client", Python = "/usr/bin/python3"; // Debian's, which sees the package

    public PrometheusParserFactAttribute()
    {
        if (!Directory.Exists(Package) || !File.Exists(Python))
            Skip = "needs Debian's python3-prometheus-client (apt-get install python3-prometheus-client), whose parser reads the scrape";
    }
}

/// <summary>
/// Test classes that read /metrics run alone, after the parallel ones: the exporter subscribes to the meters by name, so
/// it hears every server in the process, and an observable counter (leasehold.nfs.operations, leasehold.nfs.compounds)
/// reports one value per tag set: with other test servers alive, the series would show whichever server reported last.
/// A production process has one server.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AloneCollection
{
    public const string Name = "Alone in the process";
}

/// <summary>
/// /metrics on the admin endpoint, read by the Prometheus project's own text-format parser (prometheus_client's
/// text_string_to_metric_families, run in python3): it parses, and its counters move with the traffic.
/// </summary>
[Collection(AloneCollection.Name)]
public sealed class MetricsEndpointTests(AdminFixture fx) : IClassFixture<AdminFixture>
{
    /// <summary>One sample as the parser read it: metric name, labels, value.</summary>
    private sealed record Sample(string Name, Dictionary<string, string> Labels, double Value);

    private const string Parse = """
        import json, sys
        from prometheus_client.parser import text_string_to_metric_families
        out = []
        for family in text_string_to_metric_families(sys.stdin.read()):
            for s in family.samples:
                out.append({"name": s.name, "labels": s.labels, "value": s.value})
        print(json.dumps(out))
        """;

    private static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);

    private async Task<List<Sample>> ScrapeAsync()
    {
        using var http = fx.SocketClient();
        string text = await http.GetStringAsync("metrics");
        var start = new ProcessStartInfo(PrometheusParserFactAttribute.Python) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(Parse);
        using var python = Process.Start(start)!;
        await python.StandardInput.WriteAsync(text);
        python.StandardInput.Close();
        var stdout = python.StandardOutput.ReadToEndAsync();
        string stderr = await python.StandardError.ReadToEndAsync();
        await python.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(python.ExitCode == 0, $"the Prometheus parser refused the scrape: {stderr}\n{text}");
        return JsonSerializer.Deserialize<List<Sample>>(await stdout, Web)!;
    }

    private static double Value(List<Sample> samples, string name, params (string Key, string Value)[] labels) =>
        samples.Where(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Key, out var v) && v == l.Value)).Sum(s => s.Value);

    [PrometheusParserFact]
    public async Task Metrics_parse_as_Prometheus_text_and_move_with_the_traffic()
    {
        var root = await fx.RootAsync();
        await using var client = await fx.ConnectAsync();
        var before = await ScrapeAsync();
        // Counters that have not moved are there at 0 (an alert on "revocations went up" needs the series before the first).
        foreach (string counter in new[] { "leasehold_nfs_delegations_revoked_total", "leasehold_engine_revocations_total", "leasehold_nfs_io_bytes_total" })
            Assert.Contains(before, s => s.Name == counter);
        Assert.Contains(before, s => s.Name == "target_info" && s.Labels.GetValueOrDefault("service_version") is { Length: > 0 });

        var made = (await client.CreateAsync(root, ServerFixture.NewName("metrics")).Bounded()).ValueOrThrow();
        var data = new byte[10_000];
        Assert.Equal(NfsStat4.Ok, (await client.WriteAsync(made.FileHandle, made.StateId, 0, data).Bounded()).Status);
        Assert.Equal(NfsStat4.Ok, (await client.ReadAsync(made.FileHandle, made.StateId, 0, 10_000).Bounded()).Status);
        Assert.Equal(NfsStat4.Ok, (await client.CloseAsync(made.FileHandle, made.StateId).Bounded()).Status);
        var after = await ScrapeAsync();

        double Moved(string name, params (string, string)[] labels) => Value(after, name, labels) - Value(before, name, labels);
        Assert.True(Moved("leasehold_nfs_operations_total", ("nfs_operation", "WRITE"), ("nfs_status", "NFS4_OK")) >= 1);
        Assert.True(Moved("leasehold_nfs_operations_total", ("nfs_operation", "READ"), ("nfs_status", "NFS4_OK")) >= 1);
        Assert.True(Moved("leasehold_nfs_io_bytes_total", ("nfs_io_direction", "write")) >= 10_000);
        Assert.True(Moved("leasehold_nfs_io_bytes_total", ("nfs_io_direction", "read")) >= 10_000);
        Assert.True(Moved("leasehold_nfs_operation_duration_seconds_count", ("nfs_operation", "OPEN")) >= 1);
        Assert.Contains(after, s => s.Name == "leasehold_nfs_operation_duration_seconds_bucket" && s.Labels.GetValueOrDefault("le") == "+Inf");
        Assert.True(Value(after, "leasehold_nfs_sessions") >= 2); // the fixture's session and this one, in this server at least
        Assert.True(Value(after, "leasehold_rpc_connections") >= 1);
        double calls = Moved("leasehold_rpc_calls_total", ("rpc_program", "100003"), ("rpc_accept_status", "SUCCESS"));
        Assert.True(calls >= 4, $"the 4 COMPOUNDs above are 4 RPC calls; counted: {calls}; {string.Join("; ", after.Where(s => s.Name.StartsWith("leasehold_rpc_calls", StringComparison.Ordinal)).Select(s => $"{string.Join(",", s.Labels)} {s.Value}"))}");
    }
}

/// <summary>The server with Admin:OperationDurations off: operations counted, their durations not collected.</summary>
public sealed class NoDurationsAdminFixture : ServerFixture
{
    protected override void Configure(IDictionary<string, string?> settings) => settings["Admin:OperationDurations"] = "false";

    public HttpClient SocketClient() => AdminHttp.OverSocket(Admin.SocketPath ?? throw new InvalidOperationException("no admin socket"));
}

[Collection(AloneCollection.Name)]
public sealed class OperationDurationsOffTests(NoDurationsAdminFixture fx) : IClassFixture<NoDurationsAdminFixture>
{
    [Fact]
    public async Task Operations_are_counted_and_no_duration_is_collected()
    {
        var root = await fx.RootAsync();
        await using var client = await fx.ConnectAsync();
        var made = (await client.CreateAsync(root, ServerFixture.NewName("no-durations")).Bounded()).ValueOrThrow();
        Assert.Equal(NfsStat4.Ok, (await client.CloseAsync(made.FileHandle, made.StateId).Bounded()).Status);

        using var http = fx.SocketClient();
        string text = await http.GetStringAsync("metrics");
        Assert.Matches("""leasehold_nfs_operations_total\{[^}]*nfs_operation="CLOSE",nfs_status="NFS4_OK"\} [1-9]""", text);
        Assert.DoesNotContain("leasehold_nfs_operation_duration", text, StringComparison.Ordinal);
    }
}
