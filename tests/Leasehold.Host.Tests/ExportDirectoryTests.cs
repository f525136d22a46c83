namespace Leasehold.Host.Tests;

/// <summary>
/// Issue 6 items 18 and 19: a named export must exist (a typo is refused, not exported empty) unless --create asks
/// for it; the default ./export is created; an export that is a file, or that this user cannot read or enter, is
/// refused in words that say so.
/// </summary>
public sealed class ExportDirectoryTests : IDisposable
{
    private readonly Scratch _scratch = new();

    public void Dispose() => _scratch.Dispose();

    /// <summary><c>serve ARGS</c> on a loopback address of its own: the export is checked after the address is bound,
    /// and a machine may already serve 2049.</summary>
    private static string[] Serve(params string[] args) => ["serve", .. args, "--listen", $"{Scratch.UnusedLoopback()}:0"];

    [Theory]
    [InlineData("no/such/dir")]
    [InlineData("shre")]
    public async Task A_named_export_that_does_not_exist_is_refused_and_not_created(string name)
    {
        _scratch.MakeDirectory("share");
        string path = _scratch.PathOf(name);

        var outcome = await LeaseholdCommand.RunAsync(_scratch.Root, Serve(name));

        Assert.Equal(1, outcome.ExitCode);
        Assert.Equal($"leasehold: the export {path} does not exist (create it, or pass --create to have it created)", outcome.ErrorLine);
        Assert.False(Directory.Exists(path));
        Assert.False(Directory.Exists(_scratch.PathOf("no")));
    }

    [Fact]
    public async Task A_missing_export_named_in_the_settings_file_is_refused_too()
    {
        _scratch.Write("leasehold.json", """{"Export":{"Path":"srv/share"}}""");

        var outcome = await LeaseholdCommand.RunAsync(_scratch.Root, Serve());

        Assert.Equal(1, outcome.ExitCode);
        Assert.Equal($"leasehold: the export {_scratch.PathOf("srv/share")} does not exist (create it, or pass --create to have it created)", outcome.ErrorLine);
        Assert.False(Directory.Exists(_scratch.PathOf("srv")));
    }

    [Fact]
    public async Task Create_makes_a_named_export_and_its_parents()
    {
        await using var server = await LeaseholdCommand.ServeAsync(_scratch.Root,
            ["serve", "new/share", "--create", "--listen", $"{Scratch.UnusedLoopback()}:0"]);

        Assert.Equal(_scratch.PathOf("new/share"), server.ExportPath);
        Assert.True(Directory.Exists(_scratch.PathOf("new/share")));
    }

    [Fact]
    public async Task The_default_export_is_created_in_the_working_directory()
    {
        await using var server = await LeaseholdCommand.ServeAsync(_scratch.Root, ["serve", "--listen", $"{Scratch.UnusedLoopback()}:0"]);

        Assert.Equal(_scratch.PathOf("export"), server.ExportPath);
        Assert.True(Directory.Exists(_scratch.PathOf("export")));
        Assert.True(File.Exists(_scratch.PathOf(".leasehold-state/handle-key")));
    }

    [Fact]
    public async Task An_export_that_is_a_file_says_so()
    {
        string path = _scratch.Write("notes.txt", "hello");

        var outcome = await LeaseholdCommand.RunAsync(_scratch.Root, Serve("notes.txt"));

        Assert.Equal(1, outcome.ExitCode);
        Assert.Equal($"leasehold: the export {path} is a file, not a directory", outcome.ErrorLine);
    }

    [Fact]
    public async Task An_export_below_a_file_says_which_is_the_file()
    {
        string file = _scratch.Write("notes.txt", "hello");

        var outcome = await LeaseholdCommand.RunAsync(_scratch.Root, Serve("notes.txt/share", "--create"));

        Assert.Equal(1, outcome.ExitCode);
        Assert.Equal($"leasehold: the export {file}/share cannot exist: {file} is a file, not a directory", outcome.ErrorLine);
    }

    [Fact]
    public async Task A_state_directory_that_is_a_file_says_so()
    {
        _scratch.MakeDirectory("share");
        string state = _scratch.Write(".leasehold-state", "");

        var outcome = await LeaseholdCommand.RunAsync(_scratch.Root, Serve("share"));

        Assert.Equal(1, outcome.ExitCode);
        Assert.Equal($"leasehold: the state directory {state} is a file, not a directory (it holds the key that signs file handles)", outcome.ErrorLine);
    }

    [Theory]
    [InlineData(0b111_000_000, "cannot read the export {path}: permission denied")]
    [InlineData(0b111_011_011, "cannot read the export {path}: permission denied")]
    [InlineData(0b111_110_110, "cannot enter the export {path}: permission denied (a directory needs x permission to be searched)")]
    public async Task An_export_this_user_cannot_use_says_permission_denied(int mode, string expected)
    {
        // Root reads everything, so the server runs as nobody (uid 65534) when the tests run as root.
        bool asNobody = Environment.UserName == "root";
        string path = _scratch.MakeDirectory("share");
        _scratch.MakeDirectory("state");
        File.SetUnixFileMode(_scratch.PathOf("state"), (UnixFileMode)0b111_111_111);
        File.SetUnixFileMode(path, (UnixFileMode)mode);

        var outcome = await LeaseholdCommand.RunAsync(_scratch.Root, Serve("share"),
            new Dictionary<string, string> { ["LEASEHOLD_Export__StateDirectory"] = _scratch.PathOf("state") }, asNobody);

        Assert.Equal(1, outcome.ExitCode);
        Assert.Equal("leasehold: " + expected.Replace("{path}", path, StringComparison.Ordinal), outcome.ErrorLine);
    }

    [RootFact]
    public async Task A_state_directory_this_user_cannot_create_says_so()
    {
        const bool asNobody = true;
        _scratch.MakeDirectory("share");
        File.SetUnixFileMode(_scratch.PathOf("share"), (UnixFileMode)0b111_111_111);

        // The scratch directory (the export's parent) is 0755 root: nobody cannot make .leasehold-state there.
        var outcome = await LeaseholdCommand.RunAsync(_scratch.Root, Serve("share"), asNobody: asNobody);

        Assert.Equal(1, outcome.ExitCode);
        Assert.Equal($"leasehold: cannot create the state directory {_scratch.PathOf(".leasehold-state")}: permission denied (set Export:StateDirectory to a writable place)", outcome.ErrorLine);
    }
}

/// <summary>A test that needs root (to run the server as another user); skipped with the reason otherwise.</summary>
public sealed class RootFactAttribute : FactAttribute
{
    public RootFactAttribute()
    {
        if (Environment.UserName != "root")
            Skip = "needs root, to run the server as nobody (uid 65534)";
    }
}
