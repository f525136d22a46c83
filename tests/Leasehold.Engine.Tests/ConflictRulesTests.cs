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
