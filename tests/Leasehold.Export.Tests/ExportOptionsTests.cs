using Leasehold.Export;

namespace Leasehold.Export.Tests;

public sealed class ExportOptionsTests
{
    [Fact]
    public void Defaults_are_read_write_without_root_squash_and_nobody_for_anonymous()
    {
        var options = new ExportOptions { Path = "/srv/data" };

        Assert.False(options.ReadOnly);
        Assert.False(options.RootSquash);
        Assert.Equal((65534u, 65534u), (options.AnonymousUid, options.AnonymousGid));
        options.Validate();
    }

    [Fact]
    public void The_default_state_directory_is_beside_the_export_not_inside_it()
    {
        var options = new ExportOptions { Path = "/srv/data/" };

        Assert.Equal("/srv/.leasehold-state", options.ResolvedStateDirectory);
    }

    [Theory]
    [InlineData("/srv/data", "/srv/data")]
    [InlineData("/srv/data", "/srv/data/.state")]
    [InlineData("/", "")]
    [InlineData("", null)]
    public void Validate_refuses_a_missing_path_or_a_state_directory_inside_the_export(string path, string? state)
    {
        var options = new ExportOptions { Path = path, StateDirectory = state };

        Assert.ThrowsAny<ArgumentException>(options.Validate);
    }

    [Fact]
    public void A_state_directory_whose_name_only_starts_like_the_export_is_fine()
    {
        new ExportOptions { Path = "/srv/data", StateDirectory = "/srv/data-state" }.Validate();
    }

    [Fact]
    public void Without_root_squash_root_stays_root()
    {
        var options = new ExportOptions { Path = "/srv" };

        Caller caller = options.MapCaller(0, 0, [4, 27]);

        Assert.True(caller.IsRoot);
        Assert.Equal(0u, caller.Gid);
        Assert.Equal([4u, 27u], caller.Groups);
    }

    [Fact]
    public void Root_squash_maps_uid_0_and_gid_0_to_the_anonymous_ids_and_leaves_others_alone()
    {
        var options = new ExportOptions { Path = "/srv", RootSquash = true, AnonymousUid = 99, AnonymousGid = 98 };

        Caller root = options.MapCaller(0, 0, [0, 5]);
        Caller user = options.MapCaller(1000, 1000, [5]);

        Assert.Equal((99u, 98u), (root.Uid, root.Gid));
        Assert.Equal([98u, 5u], root.Groups);
        Assert.False(root.IsRoot);
        Assert.Equal((1000u, 1000u), (user.Uid, user.Gid));
    }

    [Fact]
    public void Anonymous_callers_get_the_anonymous_ids()
    {
        Caller anonymous = new ExportOptions { Path = "/srv", AnonymousUid = 7, AnonymousGid = 8 }.MapAnonymous();

        Assert.Equal((7u, 8u), (anonymous.Uid, anonymous.Gid));
        Assert.Empty(anonymous.Groups);
    }

    [Fact]
    public void A_tree_refuses_to_start_with_its_state_directory_inside_the_export()
    {
        string dir = Directory.CreateTempSubdirectory("leasehold-export-options-").FullName;
        try
        {
            var options = new ExportOptions { Path = dir, StateDirectory = Path.Join(dir, "state") };
            Assert.ThrowsAny<ArgumentException>(() => new LocalDirectoryTree(options, OpenGate.Instance, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
