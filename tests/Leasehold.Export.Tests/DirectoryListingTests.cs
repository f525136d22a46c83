using Leasehold.Export;
using static Leasehold.Export.Tests.TreeSteps;

namespace Leasehold.Export.Tests;

public sealed class DirectoryListingTests(ExportFixture fixture) : IClassFixture<ExportFixture>
{
    private LocalDirectoryTree Tree => fixture.Tree;

    [Fact]
    public async Task Small_pages_give_every_entry_exactly_once_without_dot_entries()
    {
        var (dir, _) = await fixture.NewDirectoryAsync();
        var expected = new HashSet<string>();
        for (int i = 0; i < 37; i++)
        {
            string name = $"file-{i:D3}";
            await Tree.CreateFileAsync(dir, name);
            expected.Add(name);
        }
        await Tree.CreateDirectoryAsync(Caller.Root, dir, "subdir", Octal(755), ChangeContext.Anonymous, default);
        expected.Add("subdir");

        List<DirectoryEntry> listed = Tree.ListAll(dir, pageSize: 4);

        Assert.Equal(expected.Order(), listed.Select(e => e.Name.ToString()).Order());
        Assert.Equal(listed.Count, listed.Select(e => e.Cookie).Distinct().Count());
        foreach (DirectoryEntry entry in listed)
        {
            Assert.Equal(entry.Handle, Tree.LookupOk(dir, entry.Name));
            Assert.Equal(Tree.Attributes(entry.Handle).FileId, entry.Attributes.FileId);
        }
        Assert.Equal(FileType.Directory, listed.Single(e => e.Name == "subdir").Attributes.Type);
    }

    [Fact]
    public async Task Cookies_are_stable_across_calls_and_resume_after_a_file_is_created_mid_listing()
    {
        var (dir, _) = await fixture.NewDirectoryAsync();
        for (int i = 0; i < 20; i++)
            await Tree.CreateFileAsync(dir, $"n{i}");
        List<DirectoryEntry> before = Tree.ListAll(dir, pageSize: 5);

        // Same cookies on a second listing.
        Assert.Equal(before.Select(e => (e.Name, e.Cookie)), Tree.ListAll(dir, pageSize: 3).Select(e => (e.Name, e.Cookie)));

        // Start a listing, create a file in the middle of it, finish it.
        var first = Tree.ReadDirectory(Caller.Root, dir, 0, 7).Value;
        await Tree.CreateFileAsync(dir, "newcomer");
        List<DirectoryEntry> rest = Tree.ListAll(dir, pageSize: 5, from: first.Entries[^1].Cookie);
        var names = first.Entries.Concat(rest).Select(e => e.Name).Where(n => n != "newcomer").ToList();
        Assert.Equal(before.Select(e => e.Name).Order(), names.Order()); // every old entry exactly once

        // Every cookie handed out before the create still resumes right after its entry.
        for (int k = 0; k < before.Count; k++)
        {
            var resumed = Tree.ListAll(dir, pageSize: 50, from: before[k].Cookie).Select(e => e.Name).Where(n => n != "newcomer");
            Assert.Equal(before.Skip(k + 1).Select(e => e.Name), resumed);
        }
    }

    [Fact]
    public async Task Reserved_cookies_and_empty_pages_are_invalid()
    {
        var (dir, _) = await fixture.NewDirectoryAsync();

        Assert.Equal(FsStatus.Invalid, Tree.ReadDirectory(Caller.Root, dir, 1, 10).Status);
        Assert.Equal(FsStatus.Invalid, Tree.ReadDirectory(Caller.Root, dir, 2, 10).Status);
        Assert.Equal(FsStatus.Invalid, Tree.ReadDirectory(Caller.Root, dir, 0, 0).Status);
        var empty = Tree.ReadDirectory(Caller.Root, dir, 0, 10);
        Assert.Equal(FsStatus.Ok, empty.Status);
        Assert.Empty(empty.Value.Entries);
        Assert.True(empty.Value.EndOfDirectory);
    }

    [Fact]
    public async Task A_page_that_ends_exactly_at_the_last_entry_says_so_on_the_next_call()
    {
        var (dir, _) = await fixture.NewDirectoryAsync();
        await Tree.CreateFileAsync(dir, "a");
        await Tree.CreateFileAsync(dir, "b");

        var page = Tree.ReadDirectory(Caller.Root, dir, 0, 2).Value;
        Assert.Equal(2, page.Entries.Count);
        Assert.True(page.EndOfDirectory); // nothing more: said at once, not one call later

        var one = Tree.ReadDirectory(Caller.Root, dir, 0, 1).Value;
        Assert.False(one.EndOfDirectory);
    }

    [Fact]
    public async Task Listing_a_file_is_refused()
    {
        var (dir, _) = await fixture.NewDirectoryAsync();
        FileHandle file = await Tree.CreateFileAsync(dir, "f");

        Assert.Equal(FsStatus.NotDirectory, Tree.ReadDirectory(Caller.Root, file, 0, 10).Status);
    }
}
