using Leasehold.Nfs4.Ops;
using ExportHandle = Leasehold.Export.FileHandle;

namespace Leasehold.Nfs4.Tests;

/// <summary>
/// When the server may call a directory's change_info4 atomic: only when no other change of that directory by this
/// server overlapped the operation's before/after reads (over the wire, overlaps depend on timing, so they are checked
/// here on the tracker itself; Leasehold.IntegrationTests' ChangeInfoTests checks the replies of CREATE, OPEN, LINK, RENAME and REMOVE).
/// </summary>
public sealed class DirectoryChangesTests
{
    private static readonly ExportHandle D = new([1, 2, 3]);
    private static readonly ExportHandle E = new([4, 5, 6]);

    [Fact]
    public void Changes_one_after_another_are_each_alone()
    {
        var changes = new DirectoryChanges(exportIsExclusive: true);
        var first = changes.Begin(D);
        Assert.True(first.End());
        var second = changes.Begin(D);
        Assert.True(second.End());
        Assert.True(second.End()); // the answer is kept
    }

    [Fact]
    public void On_an_export_local_processes_may_change_no_change_is_atomic()
    {
        var changes = new DirectoryChanges(exportIsExclusive: false);
        Assert.False(changes.Begin(D).End()); // alone, but a local change could have slipped between before and after
    }

    [Fact]
    public void A_change_that_starts_inside_another_makes_neither_alone()
    {
        var changes = new DirectoryChanges(exportIsExclusive: true);
        var outer = changes.Begin(D);
        var inner = changes.Begin(D);
        Assert.False(inner.End());
        Assert.False(outer.End());
        Assert.True(changes.Begin(D).End()); // the directory is quiet again
    }

    [Fact]
    public void A_change_that_starts_before_another_and_ends_inside_it_makes_neither_alone()
    {
        var changes = new DirectoryChanges(exportIsExclusive: true);
        var first = changes.Begin(D);
        var second = changes.Begin(D);
        Assert.False(first.End());
        Assert.False(second.End());
    }

    [Fact]
    public void Changes_of_different_directories_do_not_overlap()
    {
        var changes = new DirectoryChanges(exportIsExclusive: true);
        var d = changes.Begin(D);
        var e = changes.Begin(E);
        Assert.True(e.End());
        Assert.True(d.End());
    }

    [Fact]
    public async Task Concurrent_changes_of_one_directory_are_never_all_alone()
    {
        var changes = new DirectoryChanges(exportIsExclusive: true);
        using var bothOpen = new Barrier(2);
        bool Change()
        {
            var scope = changes.Begin(D);
            bothOpen.SignalAndWait(TimeSpan.FromSeconds(10));
            return scope.End();
        }

        var results = await Task.WhenAll(Task.Run(Change), Task.Run(Change)).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal([false, false], results);
    }
}
