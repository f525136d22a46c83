using Leasehold.Nfs4.Client;

namespace Leasehold.IntegrationTests;

/// <summary>An export the operator declared exclusive to the server (<c>Nfs4:Delegations = ExclusiveExport</c>).</summary>
public sealed class ExclusiveExportFixture : ServerFixture
{
    protected override void Configure(IDictionary<string, string?> settings) => settings["Nfs4:Delegations"] = "ExclusiveExport";
}

/// <summary>An export local processes may change too (delegations off here, so the test is the same on any machine).</summary>
public sealed class SharedExportFixture : ServerFixture
{
    protected override void Configure(IDictionary<string, string?> settings) => settings["Nfs4:Delegations"] = "Off";
}

/// <summary>
/// change_info4 of the operations that change a directory (RFC 8881 §3.3.6): "before" is the change attribute the client
/// last saw and "after" the one it sees next, and the reply is atomic only when nothing else can have changed the
/// directory in between: no overlapping change by this server, and an export nothing else touches. A Linux client keeps
/// its cached entries, lookups and access results of a directory across its own CREATE, OPEN(create), LINK, RENAME and
/// REMOVE only when the reply is atomic; otherwise it asks again (ACCESS, GETATTR and a LOOKUP per name) after each one.
/// </summary>
public abstract class ChangeInfoTests(ServerFixture fx, bool atomic)
{
    private static readonly AttrBitmap Watched = AttrBitmap.Of(FileAttr.Change);

    private Nfs4Session S => fx.Session;

    [Fact]
    public async Task Directory_changes_chain_from_one_to_the_next_and_are_atomic_only_on_an_exclusive_export()
    {
        var root = await fx.RootAsync();
        var dir = (await S.MkdirAsync(root, ServerFixture.NewName("atomic")).Bounded()).ValueOrThrow();
        var other = (await S.MkdirAsync(root, ServerFixture.NewName("atomic-other")).Bounded()).ValueOrThrow();
        async Task<ulong> ChangeOf(FileHandle d) => (await S.GetAttrAsync(d, Watched).Bounded()).ValueOrThrow().Change!.Value;
        async Task Chained(string what, ChangeInfo info, FileHandle d, ulong cached)
        {
            Assert.True(info.Atomic == atomic, $"{what}: atomic {info.Atomic}");
            Assert.Equal(cached, info.Before);
            Assert.Equal(await ChangeOf(d), info.After);
        }

        ulong c = await ChangeOf(dir);
        var f = (await S.CreateAsync(dir, "a").Bounded()).ValueOrThrow();
        await Chained("OPEN create", f.ChangeInfo, dir, c);
        Assert.True((await S.CloseAsync(f.FileHandle, f.StateId).Bounded()).IsOk);

        c = await ChangeOf(dir);
        await Chained("LINK", (await S.LinkAsync(f.FileHandle, dir, "b").Bounded()).ValueOrThrow(), dir, c);

        c = await ChangeOf(dir);
        var within = (await S.RenameAsync(dir, "a", dir, "c").Bounded()).ValueOrThrow();
        await Chained("RENAME source, same directory", within.Source, dir, c);
        Assert.Equal(within.Source, within.Target);

        c = await ChangeOf(dir);
        ulong o = await ChangeOf(other);
        var across = (await S.RenameAsync(dir, "c", other, "c").Bounded()).ValueOrThrow();
        await Chained("RENAME source", across.Source, dir, c);
        await Chained("RENAME target", across.Target, other, o);

        c = await ChangeOf(dir);
        using (var mkdir = new CompoundBuilder("mkdir").PutFh(dir).CreateDirectory("sub"))
        {
            var reply = await S.CompoundAsync(mkdir).Bounded();
            Assert.True(reply.IsOk);
            await Chained("CREATE directory", reply.Get<CreateResult>().ChangeInfo, dir, c);
        }

        c = await ChangeOf(dir);
        await Chained("REMOVE", (await S.RemoveAsync(dir, "b").Bounded()).ValueOrThrow(), dir, c);
    }

    [Fact]
    public async Task Opening_an_existing_name_reports_no_change_of_its_directory()
    {
        var root = await fx.RootAsync();
        var dir = (await S.MkdirAsync(root, ServerFixture.NewName("noatomic")).Bounded()).ValueOrThrow();
        var made = (await S.CreateAsync(dir, "x").Bounded()).ValueOrThrow();
        Assert.True((await S.CloseAsync(made.FileHandle, made.StateId).Bounded()).IsOk);
        ulong c = (await S.GetAttrAsync(dir, Watched).Bounded()).ValueOrThrow().Change!.Value;

        var opened = (await S.OpenAsync(dir, "x", ShareAccess.Read).Bounded()).ValueOrThrow();
        Assert.Equal(new ChangeInfo(false, c, c), opened.ChangeInfo);
        Assert.True((await S.CloseAsync(opened.FileHandle, opened.StateId).Bounded()).IsOk);
    }
}

public sealed class ExclusiveExportChangeInfoTests(ExclusiveExportFixture fx) : ChangeInfoTests(fx, atomic: true), IClassFixture<ExclusiveExportFixture>;

/// <summary>A local process could change the directory between "before" and "after": never atomic.</summary>
public sealed class SharedExportChangeInfoTests(SharedExportFixture fx) : ChangeInfoTests(fx, atomic: false), IClassFixture<SharedExportFixture>;
