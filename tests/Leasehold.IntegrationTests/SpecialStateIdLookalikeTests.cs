using Leasehold.Nfs4.Client;

namespace Leasehold.IntegrationTests;

/// <summary>
/// Stateids that look special but are not (issue 6, item 1; RFC 8881 §8.2.3): only all-zeros and all-ones (and the
/// current stateid, seqid 1 with "other" zero) are special. Any other seqid with an all-zero or all-ones "other" is
/// NFS4ERR_BAD_STATEID for READ, WRITE and SETATTR, so it cannot slip past a share reservation as "no state" and is not
/// taken for the current stateid either.
/// </summary>
public sealed class SpecialStateIdLookalikeTests(ServerFixture fixture) : TwoClientTests(fixture), IClassFixture<ServerFixture>
{
    private static readonly UInt128 AllOnes = (UInt128.One << 96) - 1;

    public static TheoryData<uint, bool> Lookalikes => new()
    {
        { 2, false },            // "other" zero, seqid neither 0 nor 1
        { uint.MaxValue, false },
        { 0, true },             // "other" all ones, seqid not all ones
        { 1, true },
    };

    [Theory]
    [MemberData(nameof(Lookalikes))]
    public async Task A_lookalike_is_BAD_STATEID_for_every_I_O_whether_or_not_an_open_denies_it(uint seqId, bool ones)
    {
        var lookalike = new StateId(seqId, ones ? AllOnes : UInt128.Zero);
        string name = ServerFixture.NewName("lookalike");
        string path = Path.Join(Fx.ExportPath, name);
        await File.WriteAllTextAsync(path, "original");
        var root = await Fx.RootAsync();
        var file = (await B.LookupAsync(root, name).Bounded()).ValueOrThrow();

        for (int round = 0; round < 2; round++)
        {
            Assert.Equal(NfsStat4.BadStateId, (await B.ReadAsync(file, lookalike, 0, 10).Bounded()).Status);
            Assert.Equal(NfsStat4.BadStateId, (await B.WriteAsync(file, lookalike, 0, ServerFixture.Bytes("X")).Bounded()).Status);
            Assert.Equal(NfsStat4.BadStateId, (await B.SetAttrAsync(file, new SetAttributes { Size = 0 }, lookalike).Bounded()).Status);
            Assert.Equal(NfsStat4.BadStateId, (await B.SetAttrAsync(file, new SetAttributes { Mode = 0x1A4 }, lookalike).Bounded()).Status);
            // Second round: with an open denying both.
            if (round == 0)
                (await A.OpenAsync(root, name, ShareAccess.Read, deny: ShareDeny.Both).Bounded()).ValueOrThrow();
        }
        Assert.Equal("original", await File.ReadAllTextAsync(path));
    }
}
