using Leasehold.Engine;

namespace Leasehold.IntegrationTests.Cluster.History;

/// <summary>The randomized test's checker must catch what it claims to: forged histories with each kind of violation.</summary>
public sealed class ClusterHistoryTests
{
    private const TokenRights R = TokenRights.Read, W = TokenRights.Write, DR = TokenRights.ReadDelegation, DW = TokenRights.WriteDelegation;

    [Fact]
    public void Sound_history_passes()
    {
        var h = new ClusterHistory();
        h.Tokens.Add(new(100, "a", 7, 0, TokenRights.All));
        h.Tokens.Add(new(200, "a", 7, TokenRights.All, R | W)); // a yields its delegation rights...
        h.Tokens.Add(new(210, "b", 7, 0, R | W));                // ...before b takes open rights
        h.Delegations.Add(new("a", "c1", 7, Write: true, 110, 190));
        h.AcknowledgedVersions[("f", 0)] = 3;
        h.AttemptedVersions[("f", 0)] = 4;

        Assert.Empty(h.Check(_ => 4));
    }

    [Fact]
    public void Overlapping_conflicting_node_rights_are_found()
    {
        var h = new ClusterHistory();
        h.Tokens.Add(new(100, "a", 7, 0, R | DR));
        h.Tokens.Add(new(150, "b", 7, 0, R | W)); // W conflicts with a's DR, and a still holds it
        h.Tokens.Add(new(300, "a", 7, R | DR, 0));

        var problem = Assert.Single(h.Check());
        Assert.Contains("file 7", problem);
    }

    [Fact]
    public void Compatible_overlapping_rights_pass()
    {
        var h = new ClusterHistory();
        h.Tokens.Add(new(100, "a", 7, 0, R | DR));
        h.Tokens.Add(new(150, "b", 7, 0, R | DR));
        h.Tokens.Add(new(160, "c", 7, 0, R));

        Assert.Empty(h.Check());
    }

    [Fact]
    public void A_node_death_ends_its_rights()
    {
        var h = new ClusterHistory();
        h.Tokens.Add(new(100, "a", 7, 0, TokenRights.All));
        h.NodeEnds.Add(new("a", 500));
        h.Tokens.Add(new(800, "b", 7, 0, TokenRights.All));

        Assert.Empty(h.Check());

        h.Tokens.Add(new(400, "c", 7, 0, W)); // but before the death, a still held everything
        h.Tokens.Add(new(450, "c", 7, W, 0));
        Assert.Contains("node a held All over [100, 500) while node c held Write", Assert.Single(h.Check()));
    }

    [Fact]
    public void A_restarted_node_starts_with_no_rights()
    {
        var h = new ClusterHistory();
        h.Tokens.Add(new(100, "a", 7, 0, TokenRights.All));
        h.NodeEnds.Add(new("a", 500));
        h.Tokens.Add(new(900, "a", 7, 0, R)); // the new incarnation: its "before" is what it thinks, its rights start here
        h.Tokens.Add(new(600, "b", 7, 0, DW));
        h.Tokens.Add(new(850, "b", 7, DW, 0));

        Assert.Empty(h.Check());
        Assert.DoesNotContain(h.RightsIntervals(), i => i.Node == "a" && i.Begin >= 500 && i.Begin < 900);
    }

    [Fact]
    public void A_delegation_outside_its_nodes_right_is_found()
    {
        var h = new ClusterHistory();
        h.Tokens.Add(new(100, "a", 7, 0, R | DR));
        h.Tokens.Add(new(200, "a", 7, R | DR, R));
        h.Delegations.Add(new("a", "c1", 7, Write: false, 120, 250)); // outlived DR by 50

        Assert.Contains(h.Check(), p => p.Contains("not inside"));

        var writeOnReadRight = new ClusterHistory();
        writeOnReadRight.Tokens.Add(new(100, "a", 7, 0, R | DR));
        writeOnReadRight.Delegations.Add(new("a", "c1", 7, Write: true, 120, 130));
        Assert.Contains(writeOnReadRight.Check(), p => p.Contains("WriteDelegation"));
    }

    [Fact]
    public void Conflicting_client_delegations_on_two_nodes_are_found_even_with_no_token_log()
    {
        var h = new ClusterHistory();
        h.Delegations.Add(new("a", "c1", 7, Write: false, 100, 300));
        h.Delegations.Add(new("b", "c2", 7, Write: true, 200, 400));

        Assert.Contains(h.Check(), p => p.Contains("client c1 on a"));

        var readers = new ClusterHistory();
        readers.Delegations.Add(new("a", "c1", 7, Write: false, 100, 300));
        readers.Delegations.Add(new("b", "c2", 7, Write: false, 200, 400));
        Assert.DoesNotContain(readers.Check(), p => p.Contains("while client"));
    }

    [Fact]
    public void Lost_and_phantom_writes_are_found()
    {
        var h = new ClusterHistory();
        h.AcknowledgedVersions[("f", 0)] = 5;
        h.AttemptedVersions[("f", 0)] = 6;

        Assert.Contains(h.Check(_ => 4), p => p.StartsWith("lost write"));
        Assert.Contains(h.Check(_ => 7), p => p.StartsWith("phantom write"));
        Assert.Empty(h.Check(_ => 6));
    }

    [Fact]
    public void Token_lines_parse_as_numbers_or_names_and_bad_lines_fail()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllLines(path, ["100 a 1f 0 15", "", "200 a 1f All Read|Write"]);
            var h = new ClusterHistory();
            h.AddTokenLog(path);
            Assert.Equal([new TokenChange(100, "a", 0x1f, 0, TokenRights.All), new TokenChange(200, "a", 0x1f, TokenRights.All, R | W)], h.Tokens);

            File.WriteAllLines(path, ["100 a 1f"]);
            Assert.Throws<FormatException>(() => new ClusterHistory().AddTokenLog(path));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
