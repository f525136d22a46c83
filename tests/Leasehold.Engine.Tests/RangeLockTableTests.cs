using Leasehold.Engine;

namespace Leasehold.Engine.Tests;

/// <summary>
/// <see cref="RangeLockTable"/>: POSIX (fcntl F_SETLK) byte-range lock rules. Ranges are inclusive; ulong.MaxValue as
/// the end means "to the end of the file".
/// </summary>
public sealed class RangeLockTableTests
{
    private const RangeLockType R = RangeLockType.Read, W = RangeLockType.Write;
    private const ulong Eof = ulong.MaxValue;
    private static readonly FileKey File = EngineFixture.FileA, OtherFile = EngineFixture.FileB;
    private static readonly Owner Alice = EngineFixture.Alice, AliceOther = EngineFixture.AliceOther, Bob = EngineFixture.Bob, Carol = EngineFixture.Carol;

    private readonly RangeLockTable _table = new();

    /// <summary>Alice holds the first lock; Bob asks for the second. Conflict: overlap and at least one write lock.</summary>
    public static TheoryData<RangeLockType, ulong, ulong, RangeLockType, ulong, ulong, bool> Conflicts => new()
    {
        { W, 0, 99, W, 50, 149, true },     // overlapping writes
        { W, 0, 99, R, 99, 99, true },      // a read into a write, by one byte
        { R, 0, 99, W, 0, 0, true },        // a write into a read
        { R, 0, 99, R, 0, 99, false },      // reads share
        { R, 0, Eof, R, 5, 5, false },
        { W, 0, 99, W, 100, 199, false },   // adjacent is not overlapping
        { W, 100, 199, W, 0, 99, false },
        { W, 100, Eof, W, Eof, Eof, true }, // to end of file reaches the last byte
        { W, 100, Eof, W, 0, 100, true },
        { W, 100, Eof, R, 0, 99, false },
        { R, 0, 0, W, 0, Eof, true },       // a whole-file lock meets everything
        { W, Eof, Eof, R, 0, Eof - 1, false },
    };

    [Theory]
    [MemberData(nameof(Conflicts))]
    public void Locks_of_different_owners_conflict_when_they_overlap_and_either_is_a_write(
        RangeLockType heldType, ulong heldStart, ulong heldEnd, RangeLockType askedType, ulong askedStart, ulong askedEnd, bool conflict)
    {
        Assert.Null(_table.TryLock(File, Alice, heldType, heldStart, heldEnd));

        var tested = _table.Test(File, Bob, askedType, askedStart, askedEnd);
        var taken = _table.TryLock(File, Bob, askedType, askedStart, askedEnd);

        var alices = new RangeLock(Alice, heldType, heldStart, heldEnd);
        Assert.Equal(conflict ? alices : null, tested);
        Assert.Equal(conflict ? alices : null, taken);
        Assert.Equal(conflict ? [alices] : new[] { alices, new RangeLock(Bob, askedType, askedStart, askedEnd) }.ToHashSet(),
            _table.LocksOn(File).ToHashSet());
    }

    [Fact]
    public void Two_lock_owners_of_one_client_are_different_owners()
    {
        // NFS lock-owners of one client (same group) still conflict: POSIX locks belong to the owner, not to the client.
        Assert.Null(_table.TryLock(File, Alice, W, 0, 9));
        Assert.Equal(new RangeLock(Alice, W, 0, 9), _table.TryLock(File, AliceOther, W, 5, 5));
    }

    [Theory]
    [InlineData(RangeLockType.Write, RangeLockType.Write)]
    [InlineData(RangeLockType.Write, RangeLockType.Read)]
    [InlineData(RangeLockType.Read, RangeLockType.Write)]
    [InlineData(RangeLockType.Read, RangeLockType.Read)]
    public void An_owners_own_locks_never_conflict(RangeLockType first, RangeLockType second)
    {
        Assert.Null(_table.TryLock(File, Alice, first, 0, 99));
        Assert.Null(_table.TryLock(File, Alice, second, 50, 149));
        Assert.Equal(first == second ? [(first, 0ul, 149ul)] : [(first, 0ul, 49ul), (second, 50ul, 149ul)], Coverage(Alice));
    }

    [Fact]
    public void A_new_lock_replaces_the_owners_overlapping_range_splitting_it_and_changing_the_type()
    {
        Assert.Null(_table.TryLock(File, Alice, R, 0, 99));
        Assert.Null(_table.TryLock(File, Alice, W, 20, 29)); // upgrade the middle

        Assert.Equal([(R, 0ul, 19ul), (W, 20ul, 29ul), (R, 30ul, 99ul)], Coverage(Alice));
        Assert.Null(_table.TryLock(File, Bob, R, 0, 19));
        Assert.Equal(new RangeLock(Alice, W, 20, 29), _table.TryLock(File, Bob, R, 19, 20));
        Assert.Null(_table.TryLock(File, Bob, R, 30, 99));

        Assert.Null(_table.TryLock(File, Alice, R, 0, 99)); // and down again, over everything
        Assert.Equal([(R, 0ul, 99ul)], Coverage(Alice));
        Assert.Null(_table.TryLock(File, Bob, R, 20, 29));
    }

    [Fact]
    public void A_lock_over_several_of_the_owners_ranges_replaces_them_all()
    {
        Assert.Null(_table.TryLock(File, Alice, R, 0, 9));
        Assert.Null(_table.TryLock(File, Alice, W, 20, 29));
        Assert.Null(_table.TryLock(File, Alice, R, 40, 49));
        Assert.Null(_table.TryLock(File, Alice, W, 5, 44));
        Assert.Equal([(R, 0ul, 4ul), (W, 5ul, 44ul), (R, 45ul, 49ul)], Coverage(Alice));
    }

    [Fact]
    public void A_denied_lock_changes_nothing_not_even_the_owners_own_ranges()
    {
        Assert.Null(_table.TryLock(File, Alice, R, 0, 99));
        Assert.Null(_table.TryLock(File, Bob, R, 50, 59));
        // Alice's upgrade over Bob's read lock is refused, and her read lock stays whole.
        Assert.Equal(new RangeLock(Bob, R, 50, 59), _table.TryLock(File, Alice, W, 0, 99));
        Assert.Equal([(R, 0ul, 99ul)], Coverage(Alice));
    }

    [Fact]
    public void Unlocking_the_middle_of_a_lock_splits_it_in_two()
    {
        Assert.Null(_table.TryLock(File, Alice, W, 0, 99));
        _table.Unlock(File, Alice, 40, 59);

        Assert.Equal([(W, 0ul, 39ul), (W, 60ul, 99ul)], Coverage(Alice));
        Assert.Null(_table.TryLock(File, Bob, W, 40, 59));
        Assert.Equal(new RangeLock(Alice, W, 0, 39), _table.TryLock(File, Bob, W, 39, 40));
        Assert.Equal(new RangeLock(Alice, W, 60, 99), _table.TryLock(File, Bob, W, 60, 60));
    }

    [Theory]
    [InlineData(0ul, 9ul, new ulong[] { 10, 99 })]        // the head
    [InlineData(90ul, 200ul, new ulong[] { 0, 89 })]      // the tail, and past it
    [InlineData(0ul, Eof, new ulong[0])]                  // everything
    [InlineData(100ul, 200ul, new ulong[] { 0, 99 })]     // beside it: nothing
    public void Unlock_removes_exactly_the_range_asked(ulong start, ulong end, ulong[] left)
    {
        Assert.Null(_table.TryLock(File, Alice, W, 0, 99));
        _table.Unlock(File, Alice, start, end);
        Assert.Equal(left.Length == 0 ? [] : new[] { (W, left[0], left[1]) }, Coverage(Alice));
    }

    [Fact]
    public void Unlock_of_another_owners_range_leaves_it_alone()
    {
        Assert.Null(_table.TryLock(File, Alice, W, 0, 99));
        _table.Unlock(File, Bob, 0, Eof);
        Assert.Equal([(W, 0ul, 99ul)], Coverage(Alice));
    }

    [Fact]
    public void Ranges_to_the_end_of_the_file_lock_split_and_unlock_without_overflow()
    {
        Assert.Null(_table.TryLock(File, Alice, W, 100, Eof));
        Assert.Equal(new RangeLock(Alice, W, 100, Eof), _table.TryLock(File, Bob, R, Eof, Eof));
        Assert.Null(_table.TryLock(File, Bob, W, 0, 99));

        _table.Unlock(File, Alice, 200, Eof);
        Assert.Equal([(W, 100ul, 199ul)], Coverage(Alice));
        Assert.Null(_table.TryLock(File, Bob, W, 200, Eof));

        Assert.Null(_table.TryLock(File, Alice, R, 0 + 150, 150));
        _table.Unlock(File, Alice, 0, 0); // the very first byte, held by nobody here
        Assert.Equal([(W, 100ul, 149ul), (R, 150ul, 150ul), (W, 151ul, 199ul)], Coverage(Alice));
    }

    [Fact]
    public void Unlock_at_the_first_and_last_byte_splits_without_wrapping()
    {
        Assert.Null(_table.TryLock(File, Alice, W, 0, Eof));
        _table.Unlock(File, Alice, 0, 0);
        _table.Unlock(File, Alice, Eof, Eof);
        Assert.Equal([(W, 1ul, Eof - 1)], Coverage(Alice));
    }

    [Fact]
    public void UnlockAll_releases_every_lock_of_the_owner_on_that_file_only()
    {
        Assert.Null(_table.TryLock(File, Alice, R, 0, 9));
        Assert.Null(_table.TryLock(File, Alice, W, 100, Eof));
        Assert.Null(_table.TryLock(File, Bob, R, 5, 5));
        Assert.Null(_table.TryLock(OtherFile, Alice, W, 0, 9));

        _table.UnlockAll(File, Alice);

        Assert.False(_table.Holds(File, Alice));
        Assert.Equal([new RangeLock(Bob, R, 5, 5)], _table.LocksOn(File));
        Assert.True(_table.Holds(OtherFile, Alice));
        Assert.Null(_table.TryLock(File, Carol, W, 6, Eof));
    }

    [Fact]
    public void The_conflict_returned_is_the_lock_in_the_way()
    {
        Assert.Null(_table.TryLock(File, Alice, R, 0, 9));
        Assert.Null(_table.TryLock(File, Carol, W, 20, 29));
        Assert.Null(_table.TryLock(File, Alice, R, 40, 49));

        // A read from 5 to 45 passes Alice's read locks and stops at Carol's write lock.
        Assert.Equal(new RangeLock(Carol, W, 20, 29), _table.TryLock(File, Bob, R, 5, 45));
        Assert.Equal(new RangeLock(Carol, W, 20, 29), _table.Test(File, Bob, R, 5, 45));
        // A write meets Alice's lock at 40..49 and nothing else.
        Assert.Equal(new RangeLock(Alice, R, 40, 49), _table.TryLock(File, Bob, W, 35, 45));
        // The holder itself is never in its own way.
        Assert.Null(_table.Test(File, Carol, W, 20, 29));
    }

    [Fact]
    public void Test_reports_without_taking_a_lock()
    {
        Assert.Null(_table.Test(File, Alice, W, 0, Eof));
        Assert.Empty(_table.LocksOn(File));
        Assert.False(_table.Holds(File, Alice));

        Assert.Null(_table.TryLock(File, Bob, W, 0, 9));
        Assert.Equal(new RangeLock(Bob, W, 0, 9), _table.Test(File, Alice, R, 9, 9));
        Assert.Null(_table.Test(File, Alice, W, 10, Eof));
        Assert.Equal([new RangeLock(Bob, W, 0, 9)], _table.LocksOn(File));
        Assert.False(_table.Holds(File, Alice));
    }

    [Fact]
    public void The_table_forgets_a_file_once_no_lock_remains()
    {
        Assert.Null(_table.TryLock(File, Alice, W, 0, 9));
        Assert.Null(_table.TryLock(File, Bob, R, 10, 19));
        Assert.True(_table.Holds(File, Alice));

        _table.Unlock(File, Alice, 0, 9);
        Assert.False(_table.Holds(File, Alice));
        Assert.True(_table.Holds(File, Bob));
        _table.UnlockAll(File, Bob);

        Assert.False(_table.Holds(File, Bob));
        Assert.Empty(_table.LocksOn(File));
        // And the file is usable again afterwards (a new entry, not a retired one).
        Assert.Null(_table.TryLock(File, Carol, W, 0, Eof));
        Assert.Equal([new RangeLock(Carol, W, 0, Eof)], _table.LocksOn(File));
    }

    [Fact]
    public void Unlocking_a_file_nobody_locked_is_harmless()
    {
        _table.Unlock(File, Alice, 0, Eof);
        _table.UnlockAll(File, Bob);
        Assert.Empty(_table.LocksOn(File));
        Assert.False(_table.Holds(File, Alice));
    }

    [Fact]
    public void A_range_that_ends_before_it_starts_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => _table.TryLock(File, Alice, W, 10, 9));
        Assert.Empty(_table.LocksOn(File));
    }

    [Fact]
    public async Task Owners_racing_for_one_range_never_hold_it_together()
    {
        // Lock, check, unlock, as fast as possible: each unlock empties the file, so entries are retired and re-created
        // all the time; a lock taken on a retired entry would be lost and let a second owner in.
        var owners = Enumerable.Range(1, 4).Select(i => new Owner((ulong)i, 1)).ToArray();
        int granted = 0, overlaps = 0;
        await Task.WhenAll(owners.Select(owner => Task.Run(() =>
        {
            for (int i = 0; i < 5_000; i++)
            {
                if (_table.TryLock(File, owner, W, 0, 9) is not null)
                    continue;
                Interlocked.Increment(ref granted);
                if (_table.LocksOn(File).Any(l => l.Owner != owner))
                    Interlocked.Increment(ref overlaps);
                _table.Unlock(File, owner, 0, Eof);
            }
        }))).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(0, overlaps);
        Assert.True(granted > 0);
        Assert.Empty(_table.LocksOn(File));
    }

    /// <summary>The owner's locks as (type, start, end), in order, with touching ranges of one type joined.</summary>
    private List<(RangeLockType Type, ulong Start, ulong End)> Coverage(Owner owner)
    {
        var merged = new List<(RangeLockType Type, ulong Start, ulong End)>();
        foreach (var l in _table.LocksOn(File).Where(l => l.Owner == owner).OrderBy(l => l.Start))
        {
            if (merged.Count > 0 && merged[^1].Type == l.Type && merged[^1].End != Eof && merged[^1].End + 1 == l.Start)
                merged[^1] = (l.Type, merged[^1].Start, l.End);
            else
                merged.Add((l.Type, l.Start, l.End));
        }
        return merged;
    }

    /// <summary>The table says when waiters may now get in: after an unlock that removed something, or a write lock taken again as read.</summary>
    [Fact]
    public void Released_is_called_when_locks_go_or_weaken_and_only_then()
    {
        var released = new List<FileKey>();
        _table.Released = released.Add;
        Assert.Null(_table.TryLock(File, Alice, W, 0, 99));
        Assert.Null(_table.TryLock(File, Alice, W, 0, 99)); // the same again: nothing freed
        Assert.Null(_table.TryLock(File, Alice, W, 200, 299));
        Assert.Empty(released);

        Assert.Null(_table.TryLock(File, Alice, R, 0, 49)); // write to read: readers may get in
        Assert.Equal([File], released);
        Assert.Null(_table.TryLock(File, Alice, W, 0, 49)); // read to write: nobody may
        _table.Unlock(File, Alice, 100, 199); // nothing held there
        _table.Unlock(OtherFile, Alice, 0, Eof);
        Assert.Equal([File], released);

        _table.Unlock(File, Alice, 0, Eof);
        Assert.Equal([File, File], released);
    }
}
