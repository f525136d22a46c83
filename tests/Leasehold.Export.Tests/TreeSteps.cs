using System.Text;
using Leasehold.Export;

namespace Leasehold.Export.Tests;

/// <summary>Steps the tests repeat, each asserting that it worked.</summary>
internal static class TreeSteps
{
    public static readonly Caller User = new(1000, 1000, []);

    /// <summary>
    /// A mode written as its octal digits: Octal(644) is 0o644. C# has no octal literals, and 0644 would silently be
    /// decimal 644.
    /// </summary>
    public static uint Octal(uint digits)
    {
        uint value = 0;
        for (uint place = 1; digits > 0; digits /= 10, place *= 8)
        {
            Assert.True(digits % 10 < 8, "not an octal digit");
            value += digits % 10 * place;
        }
        return value;
    }

    public static async Task<FileHandle> CreateFileAsync(this IExportedTree tree, FileHandle directory, FileName name, uint mode = 0b110_100_100 /* 0644 */, Caller? caller = null)
    {
        var created = await tree.CreateFileAsync(caller ?? Caller.Root, directory, name, mode, exclusive: true, ChangeContext.Anonymous, default);
        Assert.Equal(FsStatus.Ok, created.Status);
        Assert.True(created.Value.Created);
        return created.Value.Handle;
    }

    public static async Task WriteTextAsync(this IExportedTree tree, FileHandle file, string text, long offset = 0)
    {
        var written = await tree.WriteAsync(Caller.Root, file, offset, Encoding.UTF8.GetBytes(text), WriteStability.Unstable, ChangeContext.Anonymous, default);
        Assert.Equal(FsStatus.Ok, written.Status);
        Assert.Equal(Encoding.UTF8.GetByteCount(text), written.Value.Count);
    }

    public static string ReadText(this IExportedTree tree, FileHandle file)
    {
        var buffer = new byte[64 * 1024];
        var read = tree.Read(Caller.Root, file, 0, buffer);
        Assert.Equal(FsStatus.Ok, read.Status);
        Assert.True(read.Value.EndOfFile);
        return Encoding.UTF8.GetString(buffer, 0, read.Value.Count);
    }

    public static FileAttributes Attributes(this IExportedTree tree, FileHandle handle)
    {
        var attributes = tree.GetAttributes(handle);
        Assert.Equal(FsStatus.Ok, attributes.Status);
        return attributes.Value;
    }

    public static FileHandle LookupOk(this IExportedTree tree, FileHandle directory, FileName name, Caller? caller = null)
    {
        var found = tree.Lookup(caller ?? Caller.Root, directory, name);
        Assert.Equal(FsStatus.Ok, found.Status);
        return found.Value;
    }

    /// <summary>Lists a whole directory in pages of <paramref name="pageSize"/>, checking the cookie rules on the way.</summary>
    public static List<DirectoryEntry> ListAll(this IExportedTree tree, FileHandle directory, int pageSize, ulong from = 0)
    {
        var all = new List<DirectoryEntry>();
        ulong cookie = from;
        for (int pages = 0; pages < 10_000; pages++)
        {
            var page = tree.ReadDirectory(Caller.Root, directory, cookie, pageSize);
            Assert.Equal(FsStatus.Ok, page.Status);
            Assert.True(page.Value.Entries.Count <= pageSize);
            foreach (DirectoryEntry entry in page.Value.Entries)
                Assert.True(entry.Cookie > 2, $"cookie {entry.Cookie} is reserved");
            all.AddRange(page.Value.Entries);
            if (page.Value.EndOfDirectory)
                return all;
            Assert.NotEmpty(page.Value.Entries);
            cookie = page.Value.Entries[^1].Cookie;
        }
        throw new InvalidOperationException("The listing never ended.");
    }
}
