namespace Leasehold.Engine.Tests;

/// <summary>The node token matrix of <see cref="TokenRules"/> as a table, and the right each operation needs.</summary>
public sealed class TokenRulesTests
{
    private const TokenRights R = TokenRights.Read;
    private const TokenRights W = TokenRights.Write;
    private const TokenRights DR = TokenRights.ReadDelegation;
    private const TokenRights DW = TokenRights.WriteDelegation;

    // mine, another node's, conflict: the matrix in TokenRules' remarks, all sixteen cells.
    public static TheoryData<TokenRights, TokenRights, bool> Matrix => new()
    {
        { R, R, false }, { R, W, false }, { R, DR, false }, { R, DW, true },
        { W, R, false }, { W, W, false }, { W, DR, true }, { W, DW, true },
        { DR, R, false }, { DR, W, true }, { DR, DR, false }, { DR, DW, true },
        { DW, R, true }, { DW, W, true }, { DW, DR, true }, { DW, DW, true },
    };

    [Theory]
    [MemberData(nameof(Matrix))]
    public void Single_rights_conflict_as_the_matrix_says_and_symmetrically(TokenRights mine, TokenRights others, bool conflict)
    {
        Assert.Equal(conflict, TokenRules.Conflict(mine, others));
        Assert.Equal(conflict, TokenRules.Conflict(others, mine));
    }

    [Theory]
    [InlineData(R | W, DR, true)] // W in the set meets DR
    [InlineData(R | DR, R | W, true)] // DR meets W
    [InlineData(R | DR, R | DR, false)]
    [InlineData(R | W, R | W, false)]
    [InlineData(TokenRights.None, TokenRights.All, false)]
    public void A_set_conflicts_when_any_of_its_rights_does(TokenRights mine, TokenRights others, bool conflict) =>
        Assert.Equal(conflict, TokenRules.Conflict(mine, others));

    [Theory]
    [InlineData(TokenRights.None, TokenRights.All)]
    [InlineData(R, R | W | DR)]
    [InlineData(W, R | W)]
    [InlineData(DR, R | DR)]
    [InlineData(DW, TokenRights.None)]
    [InlineData(R | W, R | W)]
    public void Greedy_takes_every_right_the_others_do_not_stand_in_the_way_of(TokenRights others, TokenRights expected) =>
        Assert.Equal(expected, TokenRules.Greedy(others));

    [Theory]
    [InlineData(FileOperation.OpenRead, R)]
    [InlineData(FileOperation.OpenWrite, W)]
    [InlineData(FileOperation.Truncate, W)]
    [InlineData(FileOperation.SetAttributes, W)]
    [InlineData(FileOperation.Link, W)]
    [InlineData(FileOperation.Unlink, W)]
    [InlineData(FileOperation.Rename, W)]
    [InlineData(FileOperation.LayoutChange, W)]
    public void An_operation_needs_read_for_an_open_for_read_and_write_for_the_rest(FileOperation op, TokenRights expected) =>
        Assert.Equal(expected, TokenRules.For(op));

    [Theory]
    [InlineData(OpenAccess.Read, R)]
    [InlineData(OpenAccess.Write, W)]
    [InlineData(OpenAccess.ReadWrite, R | W)]
    public void An_open_needs_the_rights_of_its_access(OpenAccess access, TokenRights expected) =>
        Assert.Equal(expected, TokenRules.For(access));

    [Theory]
    [InlineData(GrantKind.Lease, GrantMode.Read, DR)]
    [InlineData(GrantKind.Delegation, GrantMode.Read, DR)]
    [InlineData(GrantKind.Lease, GrantMode.Write, DW)]
    [InlineData(GrantKind.Delegation, GrantMode.Write, DW)]
    [InlineData(GrantKind.Layout, GrantMode.Shared, DW)]
    [InlineData(GrantKind.Layout, GrantMode.Exclusive, DW)]
    public void A_grant_needs_a_delegation_right(GrantKind kind, GrantMode mode, TokenRights expected) =>
        Assert.Equal(expected, TokenRules.For(kind, mode));
}
