using System.Net;
using Leasehold.Nfs4.Client;
using Leasehold.Nfs4.Client.Rpc;

namespace Leasehold.LoadGen;

/// <summary>The files a workload works on: <c>PATH/DIR/f-00000</c>... of a given size, made once over NFS and reused.</summary>
internal sealed record FileSet(FileHandle Directory, string[] Names)
{
    /// <summary>
    /// Looks up (or makes) PATH/DIR and the files <c>f-00000</c> to <c>f-{count-1}</c>, each of <paramref name="size"/>
    /// bytes: a file that exists with that size is kept, any other is created (OPEN/create, WRITE FILE_SYNC, CLOSE).
    /// </summary>
    public static async Task<FileSet> PrepareAsync(IPEndPoint endpoint, string path, string directory, int count, int size,
        CancellationToken cancellationToken)
    {
        await using var setup = await Nfs4Session.ConnectAsync(endpoint, RpcAuth.Root, new Nfs4SessionOptions { Slots = 16, BackChannel = false },
            cancellationToken);
        var root = (await setup.LookupPathAsync(path, cancellationToken)).ValueOrThrow();
        var found = await setup.LookupAsync(root, directory, cancellationToken);
        var dir = found.IsOk ? found.Value! : (await setup.MkdirAsync(root, directory, new SetAttributes { Mode = 0x1ED }, cancellationToken)).ValueOrThrow();
        string[] names = Enumerable.Range(0, count).Select(i => $"f-{i:D5}").ToArray();
        byte[] body = new byte[size];
        new Random(42).NextBytes(body);
        await Parallel.ForEachAsync(names, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken }, async (name, ct) =>
        {
            var existing = await setup.LookupAsync(dir, name, ct);
            if (existing.IsOk && (await setup.GetAttrAsync(existing.Value!, AttrBitmap.Of(FileAttr.Size), ct)).Value?.Size == (ulong)size)
                return;
            var f = (await setup.CreateAsync(dir, name, new SetAttributes { Mode = 0x1A4 }, cancellationToken: ct)).ValueOrThrow();
            var w = (await setup.WriteAsync(f.FileHandle, f.StateId, 0, body, StableHow.FileSync, ct)).ValueOrThrow();
            if (w.Count != body.Length)
                throw new IOException($"short write preparing {name}: {w.Count} of {body.Length}");
            (await setup.SetAttrAsync(f.FileHandle, new SetAttributes { Size = (ulong)size }, f.StateId, ct)).ValueOrThrow();
            (await setup.CloseAsync(f.FileHandle, f.StateId, ct)).ValueOrThrow();
        });
        return new FileSet(dir, names);
    }

    /// <summary>Opens <paramref name="count"/> sessions, <paramref name="parallel"/> at a time.</summary>
    public static async Task<Nfs4Session[]> ConnectManyAsync(IPEndPoint endpoint, int count, int parallel, Nfs4SessionOptions options,
        Func<int, Nfs4SessionOptions>? perSession, CancellationToken cancellationToken)
    {
        var sessions = new Nfs4Session[count];
        try
        {
            await Parallel.ForAsync(0, count, new ParallelOptions { MaxDegreeOfParallelism = parallel, CancellationToken = cancellationToken },
                async (i, ct) => sessions[i] = await Nfs4Session.ConnectAsync(endpoint, RpcAuth.Root, perSession?.Invoke(i) ?? options, ct));
        }
        catch
        {
            await DisposeAllAsync(sessions);
            throw;
        }
        return sessions;
    }

    /// <summary>Ends every session (DESTROY_SESSION, DESTROY_CLIENTID, close), a few at a time.</summary>
    public static async Task DisposeAllAsync(IEnumerable<Nfs4Session?> sessions) =>
        await Parallel.ForEachAsync(sessions.Where(s => s is not null), new ParallelOptions { MaxDegreeOfParallelism = 32 },
            async (s, _) => await s!.DisposeAsync());
}
