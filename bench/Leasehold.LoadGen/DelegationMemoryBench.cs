using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using Leasehold.Engine;
using Leasehold.Nfs4.Client;
using Leasehold.Nfs4.Client.Rpc;
using Leasehold.Nfs4.State;

namespace Leasehold.LoadGen;

/// <summary>
/// Server memory per outstanding delegation (issue 7, benchmark c). Starts Leasehold in this process on a fresh export
/// of <c>--files</c> empty files, and has <c>--sessions</c> clients open every file for read once, with delegations on
/// (each OPEN also gets a read delegation) and off (Nfs4:Delegations false), alternating, <c>--rounds</c> times each.
/// By default each OPEN is followed by its CLOSE, as a client closes a file it keeps a delegation for: what is left is
/// the delegation alone (the server keeps a descriptor per open file, so 100,000 opens held need ulimit -n above
/// 100,000); with <c>--keep-opens true</c> the opens are held too. The live heap (<see cref="GC.GetTotalMemory(bool)"/>
/// after full blocking collections) is taken before and after, once the engine's idle sweep (1 s here, 10 s by
/// default) has retired the state of closed files; (on − off) / files is what a delegation costs. The engine's own
/// share is measured apart: as many read delegations granted through a bare <see cref="LeaseEngine"/> on files it
/// has seen opened and closed (or, with held opens, on files it tracks as open). The load generator keeps nothing per open.
/// </summary>
internal sealed class DelegationMemoryBench(LoadGenOptions options, TextWriter output)
{
    private const int InFlightPerSession = 8;

    /// <summary>Bytes of a file handle of this export (the delegation keeps its own copy).</summary>
    private int _handleLength;

    /// <summary>The engine's idle sweep in these servers: short, so closed files' state is gone before the heap is weighed.</summary>
    private static readonly TimeSpan IdleSweep = TimeSpan.FromSeconds(1);

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        int files = options.Files, sessions = options.Sessions, rounds = options.Rounds;
        bool keepOpens = options.KeepOpens;
        output.WriteLine($"leasehold-loadgen: deleg-memory, in-process server, {files} files opened for read once each by {sessions} sessions " +
            $"({InFlightPerSession} in flight each), {(keepOpens ? "opens held" : "each OPEN then CLOSEd")}, delegations off then on, {rounds} rounds");
        if (keepOpens && OpenFileLimit() is { } limit && limit < files + 2000)
        {
            output.WriteLine($"error: the server keeps a descriptor per open file, and this process may open {limit} (ulimit -n): " +
                $"raise it above {files + 2000} (as root: ulimit -n {Math.Max(files * 2, 65536)}) or use fewer --files, or leave out --keep-opens");
            return 2;
        }
        string root = Path.Join(Path.GetTempPath(), $"leasehold-delegmem-{Guid.NewGuid():N}");
        string export = Path.Join(root, "export"), state = Path.Join(root, "state");
        try
        {
            Directory.CreateDirectory(Path.Join(export, "d"));
            Directory.CreateDirectory(Path.Join(export, "warm"));
            Directory.CreateDirectory(state);
            long made = Stopwatch.GetTimestamp();
            string[] names = Enumerable.Range(0, files).Select(i => $"f-{i:D6}").ToArray();
            foreach (string name in names)
                File.Create(Path.Join(export, "d", name)).Dispose();
            for (int i = 0; i < 64; i++)
                File.Create(Path.Join(export, "warm", $"w-{i}")).Dispose();
            output.WriteLine($"made {files} empty files in {export}/d ({Stopwatch.GetElapsedTime(made).TotalSeconds:0.0} s)");

            var results = new List<(bool Delegations, double PerOpen, long Granted, double Seconds)>();
            _handleLength = 0;
            for (int round = 0; round < rounds; round++)
            {
                foreach (bool delegations in (bool[])[false, true])
                {
                    var (perOpen, granted, seconds) = await MeasureServerAsync(export, state, names, delegations, keepOpens, cancellationToken);
                    results.Add((delegations, perOpen, granted, seconds));
                    output.WriteLine(FormattableString.Invariant(
                        $"round {round + 1}, delegations {(delegations ? "on " : "off")}: {perOpen:0.0} B per file opened ({granted} delegations granted; opens took {seconds:0.0} s)"));
                }
            }

            double engine = await MeasureEngineAsync(files, keepOpens);
            double off = results.Where(r => !r.Delegations).Average(r => r.PerOpen);
            double on = results.Where(r => r.Delegations).Average(r => r.PerOpen);
            double perDelegation = on - off;
            var ci = CultureInfo.InvariantCulture;
            output.WriteLine();
            output.WriteLine(string.Create(ci, $"live heap per file opened, delegations off : {off:0.0} B (mean of {rounds})"));
            output.WriteLine(string.Create(ci, $"live heap per file opened, delegations on  : {on:0.0} B (mean of {rounds})"));
            output.WriteLine(string.Create(ci, $"per outstanding delegation (on - off)    : {perDelegation:0.0} B"));
            output.WriteLine(string.Create(ci, $"  of which the engine's own              : {engine:0.0} B (bare LeaseEngine, read delegation on a file {(keepOpens ? "open by another owner" : "opened and closed before")})"));
            output.WriteLine(string.Create(ci, $"  beyond the engine                      : {perDelegation - engine:0.0} B (target <= 512 B)"));
            output.WriteLine("object sizes (allocated by one `new`, 64-bit):");
            foreach (var (type, size) in ObjectSizes())
                output.WriteLine($"  {type,-40} {size} B");
            output.WriteLine($"  {"byte[] of a " + _handleLength + "-byte file handle",-40} {24 + (_handleLength + 7) / 8 * 8} B");
            output.WriteLine(string.Create(ci, $"| deleg-memory | {files} | {(keepOpens ? "held" : "closed")} | {off:0} | {on:0} | {perDelegation:0} | {engine:0} | {perDelegation - engine:0} |"));
            bool allGranted = results.Where(r => r.Delegations).All(r => r.Granted == files) && results.Where(r => !r.Delegations).All(r => r.Granted == 0);
            if (!allGranted)
                output.WriteLine("error: not every open got a delegation with delegations on (or some did with them off): the numbers mean little");
            return allGranted ? 0 : 3;
        }
        finally
        {
            try
            {
                Directory.Delete(root, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>Heap growth per open held (bytes), delegations granted, and how long the opens took.</summary>
    private async Task<(double PerOpen, long Granted, double Seconds)> MeasureServerAsync(string export, string state, string[] names, bool delegations,
        bool keepOpens, CancellationToken cancellationToken)
    {
        await using var server = InProcessServer.Start(export, state, new Nfs4Options { Delegations = delegations ? DelegationPolicy.ExclusiveExport : DelegationPolicy.Off }, IdleSweep);
        var clients = await FileSet.ConnectManyAsync(server.EndPoint, options.Sessions, 8, Nfs4SessionOptions.Default, _ => new Nfs4SessionOptions
        {
            Slots = InFlightPerSession,
            RenewLease = true,
            CallbackHandler = new RecallHandler((_, _) => { }),
        }, cancellationToken);
        try
        {
            var root = (await clients[0].LookupPathAsync("/", cancellationToken)).ValueOrThrow();
            var dir = (await clients[0].LookupAsync(root, "d", cancellationToken)).ValueOrThrow();
            var warm = (await clients[0].LookupAsync(root, "warm", cancellationToken)).ValueOrThrow();
            // Warm every path (JIT, pools, the per-session tables) on other files before the baseline.
            await Parallel.ForAsync(0, clients.Length, cancellationToken, async (c, ct) =>
            {
                for (int i = 0; i < 64; i++)
                {
                    var o = (await clients[c].OpenAsync(warm, $"w-{i}", ShareAccess.Read, cancellationToken: ct)).ValueOrThrow();
                    if (!keepOpens)
                        (await clients[c].CloseAsync(o.FileHandle, o.StateId, ct)).ValueOrThrow();
                }
            });
            await Task.Delay(IdleSweep * 3, cancellationToken);
            long before = LiveHeap();

            long granted = 0;
            long started = Stopwatch.GetTimestamp();
            int next = -1;
            await Parallel.ForAsync(0, clients.Length * InFlightPerSession, cancellationToken, async (lane, ct) =>
            {
                var session = clients[lane % clients.Length];
                int i;
                while ((i = Interlocked.Increment(ref next)) < names.Length)
                {
                    var o = (await session.OpenAsync(dir, names[i], ShareAccess.Read, cancellationToken: ct)).ValueOrThrow();
                    if (o.Delegation.Type == DelegationType.Read)
                        Interlocked.Increment(ref granted);
                    _handleLength = o.FileHandle.Length;
                    if (!keepOpens)
                        (await session.CloseAsync(o.FileHandle, o.StateId, ct)).ValueOrThrow();
                }
            });
            double seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            await Task.Delay(IdleSweep * 3, cancellationToken); // closed files' engine state is retired at the second sweep
            long after = LiveHeap();
            return ((after - before) / (double)names.Length, granted, seconds);
        }
        finally
        {
            await FileSet.DisposeAllAsync(clients);
        }
    }

    /// <summary>Heap growth per read delegation granted by a bare engine, on files it tracks as open or on files opened and closed just before (bytes).</summary>
    private static async Task<double> MeasureEngineAsync(int files, bool onOpenFiles)
    {
        await using var engine = new LeaseEngine(new LeaseEngineOptions(), TimeProvider.System, OwnerMatchers.SameGroup);
        var holder = new NoHolder();
        for (int i = 1; i <= files && onOpenFiles; i++)
            await engine.OpenAsync(FileKey.From((ulong)i), new Owner(1, 1), OpenAccess.Read, BreakMode.NonBlocking);
        long before = LiveHeap();
        for (int i = 1; i <= files; i++)
        {
            if (!onOpenFiles)
            {
                // As in the server: the client's OPEN and CLOSE pass through the engine first, and leave their traces
                // (the file's open table) in the state the delegation keeps alive.
                await engine.OpenAsync(FileKey.From((ulong)i), new Owner(1, 1), OpenAccess.Read, BreakMode.NonBlocking);
                engine.Close(FileKey.From((ulong)i), new Owner(1, 1), OpenAccess.Read);
            }
            var r = await engine.GrantAsync(new GrantRequest(FileKey.From((ulong)i), new Owner((ulong)(i % 10 + 1), 0), GrantKind.Delegation, GrantMode.Read, holder));
            if (!r.IsGranted)
                throw new InvalidOperationException($"the bare engine refused a delegation: {r.Status}");
        }
        long after = LiveHeap();
        GC.KeepAlive(engine);
        return (after - before) / (double)files;
    }

    /// <summary>The soft limit on open descriptors (/proc/self/limits), or null when unknown.</summary>
    private static long? OpenFileLimit()
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/self/limits"))
            {
                if (line.StartsWith("Max open files", StringComparison.Ordinal))
                {
                    string[] parts = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    return long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out long soft) ? soft : null;
                }
            }
        }
        catch (IOException)
        {
        }
        return null;
    }

    private static long LiveHeap()
    {
        for (int i = 0; i < 3; i++)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    /// <summary>Sizes of the objects a delegation adds, by allocating one of each, uninitialised.</summary>
    private static IEnumerable<(string Type, long Size)> ObjectSizes()
    {
        var nfs = typeof(Nfs4Options).Assembly;
        foreach (var type in new[] { nfs.GetType("Leasehold.Nfs4.State.DelegationState"), typeof(Grant), typeof(Grant).Assembly.GetType("Leasehold.Engine.FileState") })
        {
            if (type is null)
                continue;
            RuntimeHelpers.GetUninitializedObject(type); // first use: type loading allocates too
            long start = GC.GetAllocatedBytesForCurrentThread();
            var o = RuntimeHelpers.GetUninitializedObject(type);
            long size = GC.GetAllocatedBytesForCurrentThread() - start;
            GC.KeepAlive(o);
            yield return (type.Name, size);
        }
    }

    private sealed class NoHolder : IGrantHolder
    {
        public void OnBreak(Grant grant, BreakTarget target, DateTimeOffset deadline)
        {
        }

        public void OnBreakExpired(Grant grant, BreakTarget applied)
        {
        }
    }
}
