using Leasehold.Export;
using static Leasehold.Export.Tests.TreeSteps;
using Microsoft.Extensions.Logging.Abstractions;

namespace Leasehold.Export.Tests;

/// <summary>Every change asks the gate first, about the right file and kind; a refusal means nothing changed.</summary>
public sealed class ChangeGateTests(ExportFixture fixture) : IClassFixture<ExportFixture>
{
    private static readonly ChangeContext Context = new(1, 2, NonBlocking: true);

    private (LocalDirectoryTree Tree, RecordingGate Gate) GatedTree()
    {
        var gate = new RecordingGate();
        return (fixture.OpenTree(gate), gate);
    }

    private static ulong Id(IExportedTree tree, FileHandle handle) => tree.Attributes(handle).FileId;

    [Fact]
    public async Task Each_change_asks_the_gate_about_the_file_it_changes()
    {
        var (tree, gate) = GatedTree();
        using var _ = tree;
        var (dir, _) = await fixture.NewDirectoryAsync();
        ulong dirId = Id(tree, dir);

        var created = await tree.CreateFileAsync(Caller.Root, dir, "f", Octal(644), false, Context, default);
        ulong fileId = Id(tree, created.Value.Handle);
        await tree.WriteAsync(Caller.Root, created.Value.Handle, 0, new byte[10], WriteStability.Unstable, Context, default);
        await tree.SetAttributesAsync(Caller.Root, created.Value.Handle, new SetAttributes(Size: 1), Context, default);
        await tree.SetAttributesAsync(Caller.Root, created.Value.Handle, new SetAttributes(Mode: Octal(600)), Context, default);
        await tree.LinkAsync(Caller.Root, created.Value.Handle, dir, "g", Context, default);
        var victim = await tree.CreateFileAsync(Caller.Root, dir, "victim", Octal(644), false, Context, default);
        ulong victimId = Id(tree, victim.Value.Handle);
        await tree.RenameAsync(Caller.Root, dir, "g", dir, "victim", Context, default);
        await tree.RemoveAsync(Caller.Root, dir, "f", Context, default);
        var sub = await tree.CreateDirectoryAsync(Caller.Root, dir, "sub", Octal(755), Context, default);
        await tree.CreateSymlinkAsync(Caller.Root, sub.Value, "l", "x"u8.ToArray(), Context, default);

        (ulong, ChangeKind)[] expected =
        [
            (dirId, ChangeKind.Create),
            (fileId, ChangeKind.Write),
            (fileId, ChangeKind.Truncate),
            (fileId, ChangeKind.SetAttributes),
            (fileId, ChangeKind.Link),
            (dirId, ChangeKind.Create),
            (fileId, ChangeKind.Rename),
            (victimId, ChangeKind.Unlink),
            (fileId, ChangeKind.Unlink),
            (dirId, ChangeKind.Create),
            (Id(tree, sub.Value), ChangeKind.Create),
        ];
        Assert.Equal(expected, gate.Calls);
        Assert.Equal(0, gate.Outstanding); // every grant was disposed after its change
    }

    [Fact]
    public async Task Reads_lookups_and_opening_an_existing_file_do_not_ask_the_gate()
    {
        var (tree, gate) = GatedTree();
        using var _ = tree;
        var (dir, _) = await fixture.NewDirectoryAsync();
        FileHandle file = await tree.CreateFileAsync(dir, "f");
        gate.Clear();

        tree.Read(Caller.Root, file, 0, new byte[4]);
        tree.Lookup(Caller.Root, dir, "f");
        tree.ReadDirectory(Caller.Root, dir, 0, 10);
        tree.Commit(file);
        await tree.CreateFileAsync(Caller.Root, dir, "f", Octal(644), exclusive: false, Context, default);
        await tree.SetAttributesAsync(Caller.Root, file, new SetAttributes(), Context, default);

        Assert.Empty(gate.Calls);
    }

    [Fact]
    public async Task A_pending_recall_delays_every_change_and_nothing_changes()
    {
        var (tree, gate) = GatedTree();
        using var _ = tree;
        var (dir, path) = await fixture.NewDirectoryAsync();
        FileHandle file = await tree.CreateFileAsync(dir, "f");
        await tree.WriteTextAsync(file, "original");
        await tree.CreateFileAsync(dir, "other");
        FileAttributes before = tree.Attributes(file);
        gate.Refusal = ChangeRefusal.RecallPending;

        Assert.Equal(FsStatus.Delay, (await tree.WriteAsync(Caller.Root, file, 0, "changed"u8.ToArray(), WriteStability.FileSync, Context, default)).Status);
        Assert.Equal(FsStatus.Delay, (await tree.SetAttributesAsync(Caller.Root, file, new SetAttributes(Size: 0), Context, default)).Status);
        Assert.Equal(FsStatus.Delay, (await tree.SetAttributesAsync(Caller.Root, file, new SetAttributes(Mode: 0), Context, default)).Status);
        Assert.Equal(FsStatus.Delay, (await tree.LinkAsync(Caller.Root, file, dir, "link", Context, default)).Status);
        Assert.Equal(FsStatus.Delay, await tree.RemoveAsync(Caller.Root, dir, "f", Context, default));
        Assert.Equal(FsStatus.Delay, await tree.RenameAsync(Caller.Root, dir, "f", dir, "renamed", Context, default));
        Assert.Equal(FsStatus.Delay, (await tree.CreateFileAsync(Caller.Root, dir, "new", Octal(644), true, Context, default)).Status);
        Assert.Equal(FsStatus.Delay, (await tree.CreateDirectoryAsync(Caller.Root, dir, "newdir", Octal(755), Context, default)).Status);
        Assert.Equal(FsStatus.Delay, (await tree.CreateSymlinkAsync(Caller.Root, dir, "newlink", "f"u8.ToArray(), Context, default)).Status);

        Assert.Equal(before, tree.Attributes(file));
        Assert.Equal("original", tree.ReadText(file));
        Assert.Equal(["f", "other"], Directory.GetFileSystemEntries(path).Select(Path.GetFileName).Order());
    }

    [Fact]
    public async Task Renaming_onto_a_file_whose_grants_are_being_recalled_leaves_both_files()
    {
        var gate = new TargetRefusingGate();
        using LocalDirectoryTree tree = fixture.OpenTree(gate);
        var (dir, _) = await fixture.NewDirectoryAsync();
        FileHandle source = await tree.CreateFileAsync(dir, "source");
        FileHandle target = await tree.CreateFileAsync(dir, "target");
        gate.Refused = Id(tree, target);

        FsStatus status = await tree.RenameAsync(Caller.Root, dir, "source", dir, "target", Context, default);

        Assert.Equal(FsStatus.Delay, status);
        Assert.Equal(source, tree.LookupOk(dir, "source"));
        Assert.Equal(target, tree.LookupOk(dir, "target"));
    }

    [Fact]
    public async Task An_exclusive_layout_refusal_is_reported_as_layout_busy()
    {
        var (tree, gate) = GatedTree();
        using var _ = tree;
        var (dir, _) = await fixture.NewDirectoryAsync();
        FileHandle file = await tree.CreateFileAsync(dir, "f");
        gate.Refusal = ChangeRefusal.LayoutBusy;

        var write = await tree.WriteAsync(Caller.Root, file, 0, "x"u8.ToArray(), WriteStability.Unstable, Context, default);

        Assert.Equal(FsStatus.LayoutBusy, write.Status);
        Assert.Equal(0UL, tree.Attributes(file).Size);
    }

    [Fact]
    public async Task A_cancelled_gate_wait_cancels_the_change()
    {
        using LocalDirectoryTree tree = fixture.OpenTree(new CancellingGate());
        var (dir, _) = await fixture.NewDirectoryAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
            await tree.CreateFileAsync(Caller.Root, dir, "never", Octal(644), true, Context, new CancellationToken(canceled: true)));
        Assert.Equal(FsStatus.NotFound, tree.Lookup(Caller.Root, dir, "never").Status);
    }

    private sealed class TargetRefusingGate : IChangeGate
    {
        public ulong Refused { get; set; }

        public ValueTask<ChangeGrant> BeginAsync(ulong fileId, ChangeKind kind, ChangeContext context, CancellationToken cancellationToken) =>
            new(fileId == Refused ? new ChangeGrant(ChangeRefusal.RecallPending, null) : ChangeGrant.Proceed);
    }

    private sealed class CancellingGate : IChangeGate
    {
        public ValueTask<ChangeGrant> BeginAsync(ulong fileId, ChangeKind kind, ChangeContext context, CancellationToken cancellationToken) =>
            ValueTask.FromCanceled<ChangeGrant>(cancellationToken);
    }
}
