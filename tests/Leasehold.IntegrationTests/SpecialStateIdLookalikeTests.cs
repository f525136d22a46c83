using Leasehold.Nfs4.Client;

namespace Leasehold.IntegrationTests;

/// <summary>
/// Stateids that look special but are not (issue 6, item 1; RFC 8881 §8.2.3): only all-zeros and all-ones (and the
/// current stateid, seqid 1 with "other" zero) are special. Any other seqid with an all-zero or all-ones "other" is
/// NFS4ERR_BAD_STATEID for READ, WRITE and SETATTR, so it cannot slip past a share reservation as "no state" and is not
/// taken for the current stateid either.
/// </summary>
public sealed class SpecialStateIdLookalikeTests(ServerFixture fx) : IClassFixture<ServerFixture>, IAsyncLifetime
{
    private static readonly UInt128 AllOnes = (UInt128.One << 96) - 1;

    public static TheoryData<uint, bool> Lookalikes => new()
    {
        { 2, false },            // "other" zero, seqid neither 0 nor 1
        { uint.MaxValue, false },
        { 0, true },             // "other" all ones, seqid not all ones
        { 1, true },
    };

    private Nfs4Session _a = null!;
    private Nfs4Session _b = null!;

    public async Task InitializeAsync()
    {
        _a = await fx.ConnectAsync();
        _b = await fx.ConnectAsync();
    }

    public async Task DisposeAsync()
    {
        await _a.DisposeAsync();
        await _b.DisposeAsync();
    }

    [Theory]
    [MemberData(nameof(Lookalikes))]
    public async Task A_lookalike_is_BAD_STATEID_for_every_I_O_whether_or_not_an_open_denies_it(uint seqId, bool ones)
    {
        var lookalike = new StateId(seqId, ones ? AllOnes : UInt128.Zero);
        string name = ServerFixture.NewName("lookalike");
        string path = Path.Join(fx.ExportPath, name);
        await File.WriteAllTextAsync(path, "original");
        var root = await fx.RootAsync();
        var file = (await _b.LookupAsync(root, name).Bounded()).ValueOrThrow();

        for (int round = 0; round < 2; round++)
        {
            Assert.Equal(NfsStat4.BadStateId, (await _b.ReadAsync(file, lookalike, 0, 10).Bounded()).Status);
            Assert.Equal(NfsStat4.BadStateId, (await _b.WriteAsync(file, lookalike, 0, ServerFixture.Bytes("X")).Bounded()).Status);
            Assert.Equal(NfsStat4.BadStateId, (await _b.SetAttrAsync(file, new SetAttributes { Size = 0 }, lookalike).Bounded()).Status);
            Assert.Equal(NfsStat4.BadStateId, (await _b.SetAttrAsync(file, new SetAttributes { Mode = 0x1A4 }, lookalike).Bounded()).Status);
            // Second round: with an open denying both.
            if (round == 0)
                (await _a.OpenAsync(root, name, ShareAccess.Read, deny: ShareDeny.Both).Bounded()).ValueOrThrow();
        }
        Assert.Equal("original", await File.ReadAllTextAsync(path));
    }
}
