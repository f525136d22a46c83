using System.Text;
using Leasehold.Nfs4.Client;
using Leasehold.Nfs4.Client.Rpc;

namespace Leasehold.Nfs4.Client.Tests;

/// <summary>
/// One session against the LEASEHOLD_TEST_NFS server for a test class, and a fresh directory under its export that
/// is emptied and removed afterwards. Does nothing when the server is unavailable (the tests are skipped then).
/// </summary>
public sealed class ServerFixture : IAsyncLifetime
{
    private Nfs4Session? _session;
    private FileHandle? _dir;

    public Nfs4Session Session => _session ?? throw new InvalidOperationException(NfsTestServer.Unavailable);

    /// <summary>The export's root directory.</summary>
    public FileHandle Export { get; private set; } = new([]);

    /// <summary>A directory of this fixture's own, named <see cref="DirectoryName"/>, inside the export.</summary>
    public FileHandle Directory => _dir ?? throw new InvalidOperationException(NfsTestServer.Unavailable);

    public string DirectoryName { get; } = $"client-tests-{Guid.NewGuid():N}";

    public static Task<Nfs4Session> ConnectAsync(Nfs4SessionOptions? options = null) =>
        Nfs4Session.ConnectAsync(NfsTestServer.Endpoint, RpcAuth.Root, options);

    public async Task InitializeAsync()
    {
        if (NfsTestServer.Unavailable is not null)
            return;
        _session = await ConnectAsync();
        Export = (await _session.LookupPathAsync(NfsTestServer.Endpoint.Path)).ValueOrThrow();
        _dir = (await _session.MkdirAsync(Export, DirectoryName, new SetAttributes { Mode = Convert.ToUInt32("755", 8) })).ValueOrThrow();
    }

    public async Task DisposeAsync()
    {
        if (_session is null)
            return;
        if (_dir is not null)
            await RemoveTreeAsync(_session, Export, DirectoryName);
        await _session.DisposeAsync();
    }

    private static async Task RemoveTreeAsync(Nfs4Session s, FileHandle parent, string name)
    {
        var dir = await s.LookupAsync(parent, name);
        if (dir.IsOk)
        {
            var attrs = await s.GetAttrAsync(dir.Value!, AttrBitmap.Of(FileAttr.Type));
            if (attrs.Value?.Type == NfsFileType.Directory)
            {
                var entries = await s.ReadDirAsync(dir.Value!);
                foreach (var e in entries.Value ?? [])
                    await RemoveTreeAsync(s, dir.Value!, e.Name);
            }
        }
        await s.RemoveAsync(parent, name);
    }

    public static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);
}
