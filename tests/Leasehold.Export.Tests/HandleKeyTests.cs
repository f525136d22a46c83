using Microsoft.Extensions.Logging.Abstractions;
using static Leasehold.Export.Tests.TreeSteps;

namespace Leasehold.Export.Tests;

/// <summary>
/// The handle key as a file (<see cref="HandleKeyFile"/>) and as a value the host gives the tree (a cluster's nodes
/// share one key, each with a state directory of its own).
/// </summary>
public sealed class HandleKeyTests(ExportFixture fixture) : IClassFixture<ExportFixture>
{
    private string NewStateDirectory() => Path.Join(fixture.Base, "state-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public void Reading_a_state_directory_without_a_key_gives_null_and_makes_nothing()
    {
        string state = NewStateDirectory();

        Assert.Null(HandleKeyFile.Read(state));
        Assert.False(Directory.Exists(state));
    }

    [Fact]
    public void An_installed_key_is_read_back_and_kept_against_a_second_install()
    {
        string state = NewStateDirectory();
        byte[] first = HandleKeyFile.NewKey();
        byte[] second = HandleKeyFile.NewKey();

        Assert.Equal(first, HandleKeyFile.Install(state, first));
        Assert.Equal(first, HandleKeyFile.Install(state, second)); // the key already there wins
        Assert.Equal(first, HandleKeyFile.Read(state));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(HandleKeyFile.PathIn(state)));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(state));
        Assert.Equal([HandleKeyFile.FileName], Directory.GetFileSystemEntries(state).Select(Path.GetFileName)); // no temporary left
    }

    [Fact]
    public void A_key_of_the_wrong_length_is_refused_on_install_and_on_read()
    {
        string state = NewStateDirectory();
        Assert.Throws<ArgumentException>(() => HandleKeyFile.Install(state, new byte[HandleKeyFile.KeySize - 1]));

        Directory.CreateDirectory(state);
        File.WriteAllBytes(HandleKeyFile.PathIn(state), new byte[7]);
        var refused = Assert.Throws<InvalidDataException>(() => HandleKeyFile.Read(state));
        Assert.Contains(HandleKeyFile.PathIn(state), refused.Message, StringComparison.Ordinal);
        Assert.Contains("7 bytes, not 32", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Trees_with_different_state_directories_given_one_key_sign_the_same_handles_and_take_each_others()
    {
        var (dir, path) = await fixture.NewDirectoryAsync();
        FileHandle file = await fixture.Tree.CreateFileAsync(dir, "shared");
        byte[] key = HandleKeyFile.NewKey();
        string stateA = NewStateDirectory(), stateB = NewStateDirectory();
        using var a = new LocalDirectoryTree(fixture.Options(o => o.StateDirectory = stateA), OpenGate.Instance, NullLogger.Instance, handleKey: key);
        using var b = new LocalDirectoryTree(fixture.Options(o => o.StateDirectory = stateB), OpenGate.Instance, NullLogger.Instance, handleKey: key);

        Assert.Equal(a.RootHandle, b.RootHandle);
        FileHandle fromA = a.LookupOk(a.LookupOk(a.RootHandle, Path.GetFileName(path)), "shared");
        Assert.Equal(fromA, b.LookupOk(b.LookupOk(b.RootHandle, Path.GetFileName(path)), "shared"));
        Assert.Equal(fixture.Tree.Attributes(file).FileId, b.Attributes(fromA).FileId);
        // The given key is the key: not the fixture's (from its state directory), and none is written to theirs.
        Assert.NotEqual(fixture.Tree.RootHandle, a.RootHandle);
        Assert.Equal(FsStatus.BadHandle, fixture.Tree.GetAttributes(fromA).Status);
        Assert.Null(HandleKeyFile.Read(stateA));
        Assert.Null(HandleKeyFile.Read(stateB));
    }

    [Fact]
    public void A_tree_given_its_state_directorys_own_key_signs_as_the_tree_that_read_it()
    {
        byte[] key = HandleKeyFile.Read(fixture.StatePath)!;
        string state = NewStateDirectory();
        using var given = new LocalDirectoryTree(fixture.Options(o => o.StateDirectory = state), OpenGate.Instance, NullLogger.Instance, handleKey: key);

        Assert.Equal(fixture.Tree.RootHandle, given.RootHandle);
    }

    [Fact]
    public void A_given_key_of_the_wrong_length_is_refused()
    {
        Assert.Throws<ArgumentException>(() => new LocalDirectoryTree(fixture.Options(o => o.StateDirectory = NewStateDirectory()), OpenGate.Instance,
            NullLogger.Instance, handleKey: new byte[16]));
    }
}
