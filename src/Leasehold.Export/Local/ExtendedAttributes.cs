#pragma warning disable CA1822 // a skeleton until the operations are implemented; remove with the first real body
using Leasehold.Export.Native;

namespace Leasehold.Export.Local;

/// <summary><see cref="IExtendedAttributes"/> over the local directory: the user.* namespace, by fgetxattr and friends.</summary>
internal sealed class ExtendedAttributes(LocalDirectoryTree tree) : IExtendedAttributes
{
    public int MaxValueSize => 65536;

    public FsResult<byte[]> Get(Caller caller, FileHandle file, string name) => FsStatus.NotSupported;

    public ValueTask<FsStatus> SetAsync(Caller caller, FileHandle file, string name, ReadOnlyMemory<byte> value, XattrSetMode mode, ChangeContext context, CancellationToken cancellationToken) =>
        new(FsStatus.NotSupported);

    public FsResult<(IReadOnlyList<string> Names, ulong NextCookie, bool End)> List(Caller caller, FileHandle file, ulong cookie, int maxBytes) =>
        FsStatus.NotSupported;

    public ValueTask<FsStatus> RemoveAsync(Caller caller, FileHandle file, string name, ChangeContext context, CancellationToken cancellationToken) =>
        new(FsStatus.NotSupported);

    internal LocalDirectoryTree Tree => tree;
}
