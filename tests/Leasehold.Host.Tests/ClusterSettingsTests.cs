using Leasehold.Host.Serving;
using Leasehold.Host.Settings;

namespace Leasehold.Host.Tests;

/// <summary>
/// Issue 11: <c>serve --cluster etcd=URL[,URL...] --node NAME</c> and the Cluster section. Without them nothing is a
/// cluster; with them every value is checked before anything starts, and a bad one is one line and exit 2.
/// </summary>
public sealed class ClusterSettingsTests : IDisposable
{
    private readonly Scratch _scratch = new();

    public void Dispose() => _scratch.Dispose();

    private static ClusterSettings Settings(string? etcd, string? node = null, string? leaseTtl = null, string? openClaimTtl = null, string? tokenLinger = null)
    {
        var settings = new ClusterSettings { Etcd = etcd, Node = node };
        if (leaseTtl is not null)
            settings.LeaseTtl = TimeSpan.Parse(leaseTtl, System.Globalization.CultureInfo.InvariantCulture);
        if (openClaimTtl is not null)
            settings.OpenClaimTtl = TimeSpan.Parse(openClaimTtl, System.Globalization.CultureInfo.InvariantCulture);
        if (tokenLinger is not null)
            settings.TokenLinger = TimeSpan.Parse(tokenLinger, System.Globalization.CultureInfo.InvariantCulture);
        return settings;
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("", null)]
    [InlineData("http://10.0.0.1:2379", "n1")]
    [InlineData("http://10.0.0.1:2379, https://etcd-b.example:2379 ,10.0.0.3:2379", "node-2.a_b")]
    public void Good_settings_pass(string? etcd, string? node)
    {
        Settings(etcd, node).Validate();
    }

    [Theory]
    [InlineData(null, "n1", null, null, null, "Node", "a node name means nothing outside a cluster")]
    [InlineData("http://10.0.0.1:2379", null, null, null, null, "Etcd", "a cluster node needs a name: --node NAME (Cluster:Node)")]
    [InlineData("http://10.0.0.1:2379,", "n1", null, null, null, "Etcd", "an empty endpoint in the list")]
    [InlineData("ftp://10.0.0.1:2379", "n1", null, null, null, "Etcd", "ftp://10.0.0.1:2379 is not an etcd endpoint")]
    [InlineData("http://10.0.0.1:2379/v3", "n1", null, null, null, "Etcd", "http://10.0.0.1:2379/v3 is not an etcd endpoint")]
    [InlineData("http://10.0.0.1:2379", "a/b", null, null, null, "Node", "Node must be 1 to 63 of")]
    [InlineData("http://10.0.0.1:2379", "ééé", null, null, null, "Node", "Node must be 1 to 63 of")]
    [InlineData("http://10.0.0.1:2379", "n1", "00:00:01", null, null, "LeaseTtl", "LeaseTtl must be whole seconds from 2 s to 1 h")]
    [InlineData("http://10.0.0.1:2379", "n1", "00:00:02.500", null, null, "LeaseTtl", "LeaseTtl must be whole seconds from 2 s to 1 h")]
    [InlineData("http://10.0.0.1:2379", "n1", "00:00:20", "00:00:10", null, "OpenClaimTtl", "OpenClaimTtl must be whole seconds, at least Cluster:LeaseTtl")]
    [InlineData("http://10.0.0.1:2379", "n1", null, null, "00:00:00", "TokenLinger", "TokenLinger must be positive")]
    public void Bad_settings_are_refused_naming_the_key(string? etcd, string? node, string? leaseTtl, string? openClaimTtl, string? tokenLinger, string key, string problem)
    {
        var refused = Assert.Throws<ArgumentException>(() => Settings(etcd, node, leaseTtl, openClaimTtl, tokenLinger).Validate());

        Assert.Equal(key, refused.ParamName);
        Assert.StartsWith(problem, refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_node_name_of_63_characters_is_a_name_and_64_is_not()
    {
        Settings("http://10.0.0.1:2379", new string('n', 63)).Validate();
        Assert.Throws<ArgumentException>(() => Settings("http://10.0.0.1:2379", new string('n', 64)).Validate());
    }

    [Fact]
    public void The_cluster_layer_gets_the_endpoints_node_and_durations()
    {
        var options = Settings(" http://10.0.0.1:2379 ,http://10.0.0.2:2379", "n1", "00:00:03", "00:00:30", "00:00:05").ToOptions();

        Assert.Equal(["http://10.0.0.1:2379", "http://10.0.0.2:2379"], options.Etcd);
        Assert.Equal("n1", options.Node);
        Assert.Equal(TimeSpan.FromSeconds(3), options.LeaseTtl);
        Assert.Equal(TimeSpan.FromSeconds(30), options.OpenClaimTtl);
        Assert.Equal(TimeSpan.FromSeconds(5), options.TokenLinger);
        options.Validate(); // what the host passes, the cluster layer takes
    }

    [Fact]
    public void The_defaults_are_the_cluster_layers_and_no_cluster()
    {
        var settings = new ClusterSettings();
        var defaults = new Leasehold.Cluster.ClusterOptions();

        Assert.False(settings.Enabled);
        Assert.Equal(defaults.LeaseTtl, settings.LeaseTtl);
        Assert.Equal(defaults.OpenClaimTtl, settings.OpenClaimTtl);
        Assert.Equal(defaults.TokenLinger, settings.TokenLinger);
        var section = SettingsSchema.Find("Cluster")!;
        Assert.Equal(["Etcd", "Node", "LeaseTtl", "OpenClaimTtl", "TokenLinger", "HistoryFile"], section.Keys.Select(k => k.Name));
        Assert.Equal("(none: not a cluster)", SettingsSchema.FormatDefault(section, section.Find("Etcd")!, settings));
        Assert.Equal("10s", SettingsSchema.FormatDefault(section, section.Find("LeaseTtl")!, settings));
    }

    [Theory]
    [InlineData(new[] { "--cluster", "zookeeper=10.0.0.1:2181", "--node", "n1" }, "--cluster \"zookeeper=10.0.0.1:2181\" is not etcd=URL[,URL...] (etcd is the only kind of cluster) (see leasehold serve --help)")]
    [InlineData(new[] { "--cluster", "etcd=", "--node", "n1" }, "--cluster \"etcd=\" names no etcd endpoint; write etcd=URL[,URL...] such as etcd=http://10.0.0.1:2379 (see leasehold serve --help)")]
    [InlineData(new[] { "--cluster", "etcd=http://127.0.0.1:2379" }, "--cluster \"http://127.0.0.1:2379\": a cluster node needs a name: --node NAME (Cluster:Node)")]
    [InlineData(new[] { "--cluster", "etcd=http://127.0.0.1:2379", "--node", "a b" }, "--node \"a b\": Node must be 1 to 63 of A-Z, a-z, 0-9, '.', '_' and '-'")]
    [InlineData(new[] { "--node", "n1" }, "--node \"n1\": a node name means nothing outside a cluster: join one with --cluster etcd=URL (Cluster:Etcd)")]
    public async Task A_bad_cluster_option_is_one_line_and_exit_2(string[] options, string expected)
    {
        _scratch.MakeDirectory("export");

        var outcome = await LeaseholdCommand.RunAsync(_scratch.Root, ["serve", "export", "--listen", "127.0.0.1:0", .. options]);

        Assert.Equal(2, outcome.ExitCode);
        Assert.Equal("leasehold: " + expected, outcome.ErrorLine);
        Assert.Empty(outcome.Stdout); // refused before the export or the state directory is touched
        Assert.False(Directory.Exists(_scratch.PathOf(".leasehold-state")));
    }

    [Fact]
    public async Task A_bad_cluster_value_in_the_settings_file_is_named_with_the_file()
    {
        string file = _scratch.Write("leasehold.json", """{"Cluster":{"Etcd":"http://127.0.0.1:2379","Node":"n1","LeaseTtl":"1s"}}""");
        _scratch.MakeDirectory("export");

        var outcome = await LeaseholdCommand.RunAsync(_scratch.Root, ["serve", "--listen", "127.0.0.1:0"]);

        Assert.Equal(2, outcome.ExitCode);
        Assert.Equal($"leasehold: Cluster:LeaseTtl = \"1s\" in {file}: LeaseTtl must be whole seconds from 2 s to 1 h", outcome.ErrorLine);
    }
}

/// <summary>Issue 11: a node that cannot join its cluster does not serve: one line naming etcd, exit 1.</summary>
public sealed class ClusterJoinTests : IDisposable
{
    private readonly Scratch _scratch = new();

    public void Dispose() => _scratch.Dispose();

    [Fact]
    public async Task A_node_that_cannot_reach_etcd_is_one_line_and_exit_1_and_serves_nothing()
    {
        _scratch.MakeDirectory("export");
        int closed = ClosedPort();

        var outcome = await LeaseholdCommand.RunAsync(_scratch.Root,
            ["serve", "export", "--listen", "127.0.0.1:0", "--cluster", $"etcd=http://127.0.0.1:{closed}", "--node", "n1"]);

        Assert.Equal(1, outcome.ExitCode);
        Assert.StartsWith($"leasehold: cannot reach etcd at http://127.0.0.1:{closed}: ", outcome.ErrorLine, StringComparison.Ordinal);
        Assert.DoesNotContain(outcome.Stdout, line => line.Contains("[5001]", StringComparison.Ordinal) || line.Contains("[2001]", StringComparison.Ordinal));
        // Joined nothing, so it made no handle key of its own (the cluster's would have to be installed there).
        Assert.False(File.Exists(Path.Join(_scratch.PathOf(".leasehold-state"), "handle-key")));
    }

    /// <summary>A loopback port nothing listens on: one the kernel just gave and took back.</summary>
    private static int ClosedPort()
    {
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        socket.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        return ((System.Net.IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
