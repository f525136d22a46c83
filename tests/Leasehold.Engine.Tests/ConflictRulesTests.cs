namespace Leasehold.Engine.Tests;

/// <summary>The conflict rules as a table: what each operation does to a grant held by somebody else.</summary>
public sealed class ConflictRulesTests
{
    public static TheoryData<FileOperation, GrantKind, GrantMode, string> Table => new()
    {
        // Leases: Linux's rules. Only opens and truncation break them.
        { FileOperation.OpenRead, GrantKind.Lease, GrantMode.Read, nameof(Conflict.None) },
        { FileOperation.OpenRead, GrantKind.Lease, GrantMode.Write, nameof(Conflict.Downgrade) },
        { FileOperation.OpenWrite, GrantKind.Lease, GrantMode.Read, nameof(Conflict.Revoke) },
        { FileOperation.OpenWrite, GrantKind.Lease, GrantMode.Write, nameof(Conflict.Revoke) },
        { FileOperation.Truncate, GrantKind.Lease, GrantMode.Read, nameof(Conflict.Revoke) },
        { FileOperation.SetAttributes, GrantKind.Lease, GrantMode.Write, nameof(Conflict.None) },
        { FileOperation.Unlink, GrantKind.Lease, GrantMode.Read, nameof(Conflict.None) },
        { FileOperation.Rename, GrantKind.Lease, GrantMode.Write, nameof(Conflict.None) },
        { FileOperation.Link, GrantKind.Lease, GrantMode.Read, nameof(Conflict.None) },
        { FileOperation.LayoutChange, GrantKind.Lease, GrantMode.Write, nameof(Conflict.None) },

        // Delegations: broken by everything that breaks a lease, and by metadata changes. No downgrade in NFSv4.
        { FileOperation.OpenRead, GrantKind.Delegation, GrantMode.Read, nameof(Conflict.None) },
        { FileOperation.OpenRead, GrantKind.Delegation, GrantMode.Write, nameof(Conflict.Revoke) },
        { FileOperation.OpenWrite, GrantKind.Delegation, GrantMode.Read, nameof(Conflict.Revoke) },
        { FileOperation.Truncate, GrantKind.Delegation, GrantMode.Read, nameof(Conflict.Revoke) },
        { FileOperation.SetAttributes, GrantKind.Delegation, GrantMode.Read, nameof(Conflict.Revoke) },
        { FileOperation.Link, GrantKind.Delegation, GrantMode.Read, nameof(Conflict.Revoke) },
        { FileOperation.Unlink, GrantKind.Delegation, GrantMode.Read, nameof(Conflict.Revoke) },
        { FileOperation.Rename, GrantKind.Delegation, GrantMode.Write, nameof(Conflict.Revoke) },
        { FileOperation.LayoutChange, GrantKind.Delegation, GrantMode.Read, nameof(Conflict.None) },

        // Layouts: opens never touch them; layout changes revoke shared ones and bounce off exclusive ones.
        { FileOperation.OpenWrite, GrantKind.Layout, GrantMode.Shared, nameof(Conflict.None) },
        { FileOperation.OpenRead, GrantKind.Layout, GrantMode.Exclusive, nameof(Conflict.None) },
        { FileOperation.SetAttributes, GrantKind.Layout, GrantMode.Shared, nameof(Conflict.None) },
        { FileOperation.Truncate, GrantKind.Layout, GrantMode.Shared, nameof(Conflict.Revoke) },
        { FileOperation.LayoutChange, GrantKind.Layout, GrantMode.Shared, nameof(Conflict.Revoke) },
        { FileOperation.Truncate, GrantKind.Layout, GrantMode.Exclusive, nameof(Conflict.Busy) },
        { FileOperation.LayoutChange, GrantKind.Layout, GrantMode.Exclusive, nameof(Conflict.Busy) },

        // Space changes (ALLOCATE, DEALLOCATE, CLONE onto a file): data and layout at once.
        { FileOperation.SpaceChange, GrantKind.Lease, GrantMode.Read, nameof(Conflict.Revoke) },
        { FileOperation.SpaceChange, GrantKind.Delegation, GrantMode.Read, nameof(Conflict.Revoke) },
        { FileOperation.SpaceChange, GrantKind.Delegation, GrantMode.Write, nameof(Conflict.Revoke) },
        { FileOperation.SpaceChange, GrantKind.Layout, GrantMode.Shared, nameof(Conflict.Revoke) },
        { FileOperation.SpaceChange, GrantKind.Layout, GrantMode.Exclusive, nameof(Conflict.Busy) },
    };

    [Theory]
    [MemberData(nameof(Table))]
    public void Operation_affects_grant_of_another_owner_as_the_table_says(FileOperation op, GrantKind kind, GrantMode mode, string expected) =>
        Assert.Equal(Enum.Parse<Conflict>(expected), ConflictRules.Classify(op, kind, mode));

    [Theory]
    [InlineData(GrantKind.Lease, GrantMode.Read, GrantKind.Lease, GrantMode.Read, false)]
    [InlineData(GrantKind.Lease, GrantMode.Read, GrantKind.Delegation, GrantMode.Read, false)]
    [InlineData(GrantKind.Lease, GrantMode.Write, GrantKind.Lease, GrantMode.Read, true)]
    [InlineData(GrantKind.Delegation, GrantMode.Read, GrantKind.Lease, GrantMode.Write, true)]
    [InlineData(GrantKind.Layout, GrantMode.Shared, GrantKind.Layout, GrantMode.Shared, false)]
    [InlineData(GrantKind.Layout, GrantMode.Shared, GrantKind.Layout, GrantMode.Exclusive, true)]
    [InlineData(GrantKind.Layout, GrantMode.Exclusive, GrantKind.Delegation, GrantMode.Write, false)]
    public void Grants_of_different_owners_conflict_as_the_table_says(GrantKind a, GrantMode am, GrantKind b, GrantMode bm, bool conflict)
    {
        Assert.Equal(conflict, ConflictRules.GrantsConflict(a, am, b, bm));
        Assert.Equal(conflict, ConflictRules.GrantsConflict(b, bm, a, am));
    }

    /// <summary>
    /// A holder's own request on the grant it holds (held mode, pending break, requested mode). While a break is
    /// pending, only the downgrade a downgrade break asks for goes through; everything else waits for the break to end.
    /// </summary>
    public static TheoryData<GrantMode, BreakTarget, GrantMode, string> OwnChangeTable => new()
    {
        // Not being broken: a second F_SETLEASE changes the grant in place.
        { GrantMode.Read, BreakTarget.None, GrantMode.Read, nameof(OwnChange.Keep) },
        { GrantMode.Read, BreakTarget.None, GrantMode.Write, nameof(OwnChange.Strengthen) },
        { GrantMode.Write, BreakTarget.None, GrantMode.Write, nameof(OwnChange.Keep) },
        { GrantMode.Write, BreakTarget.None, GrantMode.Read, nameof(OwnChange.Weaken) },
        { GrantMode.Shared, BreakTarget.None, GrantMode.Shared, nameof(OwnChange.Keep) },
        { GrantMode.Shared, BreakTarget.None, GrantMode.Exclusive, nameof(OwnChange.Strengthen) },
        { GrantMode.Exclusive, BreakTarget.None, GrantMode.Shared, nameof(OwnChange.Weaken) },

        // A downgrade pending (a write lease met a reader): downgrading answers it; asking for Write again does not.
        { GrantMode.Write, BreakTarget.Downgrade, GrantMode.Read, nameof(OwnChange.Weaken) },
        { GrantMode.Write, BreakTarget.Downgrade, GrantMode.Write, nameof(OwnChange.Refuse) },

        // A revoke pending (escalated from a downgrade or not): nothing but a release answers it.
        { GrantMode.Read, BreakTarget.Revoke, GrantMode.Read, nameof(OwnChange.Refuse) },
        { GrantMode.Read, BreakTarget.Revoke, GrantMode.Write, nameof(OwnChange.Refuse) },
        { GrantMode.Write, BreakTarget.Revoke, GrantMode.Read, nameof(OwnChange.Refuse) },
        { GrantMode.Write, BreakTarget.Revoke, GrantMode.Write, nameof(OwnChange.Refuse) },
        { GrantMode.Shared, BreakTarget.Revoke, GrantMode.Shared, nameof(OwnChange.Refuse) },
        { GrantMode.Shared, BreakTarget.Revoke, GrantMode.Exclusive, nameof(OwnChange.Refuse) },
        { GrantMode.Exclusive, BreakTarget.Revoke, GrantMode.Shared, nameof(OwnChange.Refuse) },
        { GrantMode.Exclusive, BreakTarget.Revoke, GrantMode.Exclusive, nameof(OwnChange.Refuse) },
    };

    [Theory]
    [MemberData(nameof(OwnChangeTable))]
    public void Holders_own_request_changes_its_grant_as_the_table_says(GrantMode held, BreakTarget pending, GrantMode requested, string expected) =>
        Assert.Equal(Enum.Parse<OwnChange>(expected), ConflictRules.ChangeOwnGrant(held, pending, requested));

    [Theory]
    [InlineData(GrantKind.Lease, GrantKind.Lease, true)]
    [InlineData(GrantKind.Lease, GrantKind.Delegation, true)]
    [InlineData(GrantKind.Delegation, GrantKind.Lease, true)]
    [InlineData(GrantKind.Layout, GrantKind.Layout, true)]
    [InlineData(GrantKind.Layout, GrantKind.Lease, false)]
    [InlineData(GrantKind.Delegation, GrantKind.Layout, false)]
    public void A_grant_being_broken_keeps_out_new_grants_of_its_family(GrantKind breaking, GrantKind requested, bool keptOut) =>
        Assert.Equal(keptOut, ConflictRules.BreakKeepsOut(breaking, requested));

    [Theory]
    [InlineData(GrantKind.Lease, GrantMode.Read, 5, 0, false)]
    [InlineData(GrantKind.Lease, GrantMode.Read, 0, 1, true)]
    [InlineData(GrantKind.Lease, GrantMode.Write, 1, 0, true)]
    [InlineData(GrantKind.Lease, GrantMode.Write, 0, 0, false)]
    [InlineData(GrantKind.Delegation, GrantMode.Read, 0, 1, true)]
    [InlineData(GrantKind.Layout, GrantMode.Exclusive, 3, 3, false)]
    public void Other_owners_opens_forbid_grants_with_linux_rules(GrantKind kind, GrantMode mode, int readers, int writers, bool forbidden) =>
        Assert.Equal(forbidden, ConflictRules.OpensForbid(kind, mode, readers, writers));

    [Theory]
    [InlineData(GrantKind.Lease, GrantMode.Shared)]
    [InlineData(GrantKind.Delegation, GrantMode.Exclusive)]
    [InlineData(GrantKind.Layout, GrantMode.Read)]
    public async Task Kind_and_mode_that_do_not_belong_together_are_rejected(GrantKind kind, GrantMode mode)
    {
        await using var f = new EngineFixture();
        await Assert.ThrowsAsync<ArgumentException>(async () =>
            await f.Engine.GrantAsync(new GrantRequest(EngineFixture.FileA, EngineFixture.Alice, kind, mode, new Testing.RecordingHolder())));
    }
}
