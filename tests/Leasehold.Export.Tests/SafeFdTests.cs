using Leasehold.Export.Native;

namespace Leasehold.Export.Tests;

/// <summary>
/// Borrowed descriptors (<see cref="SafeFd.TryBorrow"/>): the export's cache lends its O_PATH descriptors instead of
/// duplicating them, so a borrow must keep the descriptor open for as long as it lives, whatever happens to the lender.
/// </summary>
public sealed class SafeFdTests(ExportFixture fixture) : IClassFixture<ExportFixture>
{
    [Fact]
    public void A_borrow_keeps_the_descriptor_open_after_its_lender_is_disposed_and_closes_nothing_of_its_own()
    {
        string path = Path.Join(fixture.ExportPath, "borrowed-" + Guid.NewGuid().ToString("N"));
        File.WriteAllText(path, "x");
        SafeFd lender = LibC.openat(LibC.AT_FDCWD, path, LibC.O_PATH | LibC.O_CLOEXEC, 0);
        Assert.False(lender.IsInvalid);
        int number = lender.Number;

        SafeFd borrow = SafeFd.TryBorrow(lender)!;
        Assert.NotNull(borrow);
        Assert.True(borrow.IsBorrowed);
        Assert.Equal(number, borrow.Number); // the same descriptor: no dup
        lender.Dispose(); // as the cache evicting its entry while a call still uses the borrow

        Assert.Equal(path, new FileInfo(borrow.ProcPath).LinkTarget);
        Assert.Equal(0, LibC.statx(borrow, "", LibC.AT_EMPTY_PATH | LibC.AT_SYMLINK_NOFOLLOW, Attributes.StatxMask, out Statx st));
        Assert.Equal(1u, st.NumLinks);

        borrow.Dispose(); // the last reference: now the lender's descriptor is closed
        Assert.NotEqual(path, DescriptorTarget(number));
        Assert.True(lender.IsClosed);
        Assert.Null(SafeFd.TryBorrow(lender)); // a closed lender lends nothing
        File.Delete(path);
    }

    [Fact]
    public void Disposing_a_borrow_gives_its_reference_back_and_leaves_the_lender_open()
    {
        string path = Path.Join(fixture.ExportPath, "lender-" + Guid.NewGuid().ToString("N"));
        File.WriteAllText(path, "x");
        using SafeFd lender = LibC.openat(LibC.AT_FDCWD, path, LibC.O_PATH | LibC.O_CLOEXEC, 0);

        SafeFd.TryBorrow(lender)!.Dispose();
        SafeFd.TryBorrow(lender)!.Dispose();

        Assert.False(lender.IsClosed);
        Assert.Equal(path, new FileInfo(lender.ProcPath).LinkTarget);
        File.Delete(path);
    }

    /// <summary>What descriptor <paramref name="number"/> names now (null when it is closed; another test may reuse it).</summary>
    private static string? DescriptorTarget(int number)
    {
        try
        {
            return new FileInfo("/proc/self/fd/" + number.ToString(System.Globalization.CultureInfo.InvariantCulture)).LinkTarget;
        }
        catch (IOException)
        {
            return null;
        }
    }
}
