using System.Globalization;
using System.Net;
using Leasehold.Nfs4.Client;
using Leasehold.Nfs4.Client.Rpc;

namespace Leasehold.LoadGen;

/// <summary>
/// The seqread and seqwrite workloads: each session streams through a file of its own (<c>PATH/DIR/f-NNNNN</c>, one per
/// session, of <see cref="LoadGenOptions.FileSize"/> bytes, made once and kept) in <see cref="IoSize"/> chunks at
/// increasing offsets, wrapping at the end. The session's lanes (<c>--depth</c>) share one cursor, so a session's
/// requests are sequential whatever the depth.
///   seqread:  one op = COMPOUND{SEQUENCE PUTFH READ(offset, io-size)}.
///   seqwrite: one op = COMPOUND{SEQUENCE PUTFH WRITE(offset, io-size, UNSTABLE4)}; the WRITE whose end crosses a
///             multiple of --commit-every (counted in the session's bytes written since the run began) is followed by
///             COMPOUND{SEQUENCE PUTFH COMMIT(0, 0)}, and the op's latency runs to the COMMIT's reply. After the run
///             each session sends a last COMMIT (timed and reported, outside the window).
/// A WRITE or COMMIT whose verifier differs from the session's first one counts as an error (the server lost
/// unstable data: RFC 8881 §18.3.3).
/// </summary>
internal sealed class SequentialIo
{
    /// <summary>Room left in ca_maxrequestsize/ca_maxresponsesize for everything but the data: the RPC header with
    /// AUTH_SYS credentials (at most ~430 B), the COMPOUND header, SEQUENCE, PUTFH (a handle of at most 128 B) and the
    /// READ/WRITE header come to about 700 B.</summary>
    public const int HeaderRoom = 1024;

    private readonly LoadGenOptions _options;
    private readonly TimeProvider _time;
    private readonly byte[] _data;
    private readonly long _span;
    private Lane[] _lanes = [];

    private SequentialIo(LoadGenOptions options, TimeProvider time, int ioSize, FileHandle directory, string[] names)
    {
        _options = options;
        _time = time;
        IoSize = ioSize;
        Directory = directory;
        Names = names;
        _data = new byte[ioSize];
        new Random(7).NextBytes(_data);
        _span = options.FileSize / ioSize * ioSize;
    }

    public FileHandle Directory { get; }
    public string[] Names { get; }

    /// <summary>Bytes per READ or WRITE: --io-size, or less when the server allows less.</summary>
    public int IoSize { get; }

    /// <summary>How each session should set up its connection: room for a READ reply or WRITE request of --io-size.</summary>
    public static Nfs4SessionOptions SessionOptions(LoadGenOptions options, bool forSetup = false) => new()
    {
        Slots = forSetup ? 8u : (uint)options.Depth,
        BackChannel = !forSetup,
        MaxMessageSize = (uint)(options.IoSize + 8 * 1024),
    };

    /// <summary>
    /// Works out the I/O size the server allows (writing a line to <paramref name="output"/> when it is less than
    /// asked), and looks up or makes the files: a file of the right size is kept, any other is (re)written in I/O-size
    /// UNSTABLE WRITEs, 8 in flight, then COMMITted.
    /// </summary>
    public static async Task<SequentialIo> PrepareAsync(LoadGenOptions options, IPEndPoint endpoint, string path, TimeProvider time,
        TextWriter output, CancellationToken cancellationToken)
    {
        await using var setup = await Nfs4Session.ConnectAsync(endpoint, RpcAuth.Root, SessionOptions(options, forSetup: true), cancellationToken);
        var root = (await setup.LookupPathAsync(path, cancellationToken)).ValueOrThrow();
        var found = await setup.LookupAsync(root, options.Directory, cancellationToken);
        var dir = found.IsOk ? found.Value! : (await setup.MkdirAsync(root, options.Directory, new SetAttributes { Mode = 0x1ED }, cancellationToken)).ValueOrThrow();
        int ioSize = await NegotiateIoSizeAsync(options, setup, dir, output, cancellationToken);
        string[] names = Enumerable.Range(0, options.Sessions).Select(i => $"f-{i:D5}").ToArray();
        var io = new SequentialIo(options, time, ioSize, dir, names);
        foreach (string name in names)
            await io.MakeFileAsync(setup, name, cancellationToken);
        return io;
    }

    private static async Task<int> NegotiateIoSizeAsync(LoadGenOptions options, Nfs4Session session, FileHandle dir, TextWriter output,
        CancellationToken cancellationToken)
    {
        bool reading = options.Workload == Workload.SeqRead;
        var fore = session.ForeChannel ?? throw new InvalidOperationException("no fore channel attributes after CREATE_SESSION");
        uint message = reading ? fore.MaxResponseSize : fore.MaxRequestSize;
        long allowed = (long)message - HeaderRoom;
        string why = string.Create(CultureInfo.InvariantCulture,
            $"the session's {(reading ? "ca_maxresponsesize" : "ca_maxrequestsize")} is {message} B (asked for {options.IoSize + 8 * 1024} B)");
        var attrs = (await session.GetAttrAsync(dir, AttrBitmap.Of(FileAttr.MaxRead, FileAttr.MaxWrite), cancellationToken)).ValueOrThrow();
        if ((reading ? attrs.MaxRead : attrs.MaxWrite) is { } max && (long)Math.Min(max, int.MaxValue) < allowed)
        {
            allowed = (long)max;
            why = string.Create(CultureInfo.InvariantCulture, $"the server's {(reading ? "maxread" : "maxwrite")} is {max} B");
        }
        if (allowed >= options.IoSize)
            return options.IoSize;
        int clamped = (int)(allowed / 4096 * 4096);
        if (clamped < 4096)
            throw new InvalidOperationException($"the server allows no 4 KiB {(reading ? "READ" : "WRITE")}: {why}");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"note: --io-size {options.IoSize} B is more than the server allows ({why}); using {clamped} B per {(reading ? "READ" : "WRITE")}"));
        return clamped;
    }

    private async Task MakeFileAsync(Nfs4Session setup, string name, CancellationToken cancellationToken)
    {
        var existing = await setup.LookupAsync(Directory, name, cancellationToken);
        if (existing.IsOk && (await setup.GetAttrAsync(existing.Value!, AttrBitmap.Of(FileAttr.Size), cancellationToken)).Value?.Size == (ulong)_options.FileSize)
            return;
        var f = (await setup.CreateAsync(Directory, name, new SetAttributes { Mode = 0x1A4 }, cancellationToken: cancellationToken)).ValueOrThrow();
        long chunks = (_options.FileSize + IoSize - 1) / IoSize;
        await Parallel.ForAsync(0L, chunks, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = cancellationToken }, async (i, ct) =>
        {
            long offset = i * IoSize;
            int length = (int)Math.Min(IoSize, _options.FileSize - offset);
            var w = (await setup.WriteAsync(f.FileHandle, f.StateId, (ulong)offset, _data.AsMemory(0, length), StableHow.Unstable, ct)).ValueOrThrow();
            if (w.Count != length)
                throw new IOException($"short write preparing {name}: {w.Count} of {length} B at {offset}");
        });
        (await setup.CommitAsync(f.FileHandle, cancellationToken: cancellationToken)).ValueOrThrow();
        (await setup.SetAttrAsync(f.FileHandle, new SetAttributes { Size = (ulong)_options.FileSize }, f.StateId, cancellationToken)).ValueOrThrow();
        (await setup.CloseAsync(f.FileHandle, f.StateId, cancellationToken)).ValueOrThrow();
    }

    /// <summary>
    /// Each session opens its file before the clock starts: READ for seqread, BOTH for seqwrite, with
    /// OPEN4_SHARE_ACCESS_WANT_NO_DELEG (the workload is about moving data, not about delegations). A server still
    /// recalling a delegation that an earlier run's client held answers NFS4ERR_DELAY; the OPEN is retried every
    /// second for up to <paramref name="patience"/>, as a client would.
    /// </summary>
    public async Task OpenAsync(Nfs4Session[] sessions, TimeSpan patience, TextWriter output, CancellationToken cancellationToken)
    {
        var access = (_options.Workload == Workload.SeqRead ? ShareAccess.Read : ShareAccess.Both) | ShareAccess.WantNoDelegation;
        var lanes = new Lane[sessions.Length];
        long start = _time.GetTimestamp();
        int delays = 0;
        for (int s = 0; s < sessions.Length; s++)
        {
            var owner = sessions[s].NewOwner("loadgen-seq");
            while (true)
            {
                var o = await sessions[s].OpenAsync(Directory, Names[s], access, owner: owner, cancellationToken: cancellationToken);
                if (o.Status == NfsStat4.Delay && _time.GetElapsedTime(start) < patience)
                {
                    if (delays++ == 0)
                        output.WriteLine($"note: OPEN {Names[s]}: NFS4ERR_DELAY (an earlier client's delegation being recalled?); retrying each second");
                    await Task.Delay(TimeSpan.FromSeconds(1), _time, cancellationToken);
                    continue;
                }
                var opened = o.ValueOrThrow();
                if (delays > 0)
                    output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"note: OPEN {Names[s]} succeeded after {_time.GetElapsedTime(start).TotalSeconds:0} s"));
                delays = 0;
                lanes[s] = new Lane(sessions[s], opened.FileHandle, opened.StateId, opened.Delegation);
                break;
            }
        }
        _lanes = lanes;
    }

    /// <summary>One loop (a session's lane) of seqread or seqwrite, until <paramref name="ct"/> is cancelled.</summary>
    public Task LoopAsync(int session, WorkerStats st, long windowStart, long windowEnd, CancellationToken ct)
    {
        var lane = _lanes[session];
        bool reading = _options.Workload == Workload.SeqRead;
        return Runner.ClosedLoopAsync(lane.Session, st, _time, windowStart, windowEnd, async () =>
        {
            long issued = Interlocked.Add(ref lane.Issued, IoSize) - IoSize; // bytes this session asked for before this op
            ulong offset = (ulong)(issued % _span);
            if (reading)
                return await Runner.ReadAsync(lane.Session, lane.File, lane.StateId, offset, (uint)IoSize, st);
            using var write = new CompoundBuilder().PutFh(lane.File).Write(lane.StateId, offset, _data, StableHow.Unstable);
            var reply = await lane.Session.CompoundAsync(write, CancellationToken.None);
            if (!Runner.Counted(reply, "WRITE", st))
                return false;
            var w = reply.Get<WriteResult>();
            if (w.Count != IoSize)
            {
                st.Error("short WRITE");
                return false;
            }
            lane.CheckVerifier(w.Verifier, st);
            if ((issued + IoSize) / _options.CommitEvery == issued / _options.CommitEvery)
                return true;
            long commitStart = _time.GetTimestamp();
            if (!await CommitAsync(lane, st))
                return false;
            if (commitStart >= windowStart && _time.GetTimestamp() <= windowEnd)
                st.Commits++;
            return true;
        }, ct);
    }

    private static async Task<bool> CommitAsync(Lane lane, WorkerStats st)
    {
        using var commit = new CompoundBuilder().PutFh(lane.File).Commit();
        var reply = await lane.Session.CompoundAsync(commit, CancellationToken.None);
        if (!Runner.Counted(reply, "COMMIT", st))
            return false;
        lane.CheckVerifier(reply.Get<CommitResult>().Verifier, st);
        return true;
    }

    /// <summary>
    /// After the run: seqwrite sends each session's last COMMIT (all at once) and says how long the slowest took;
    /// then every session closes its file.
    /// </summary>
    public async Task FinishAsync(WorkerStats st, TextWriter output, CancellationToken cancellationToken)
    {
        if (_options.Workload == Workload.SeqWrite)
        {
            long start = _time.GetTimestamp();
            var times = await Task.WhenAll(_lanes.Select(async lane =>
            {
                await CommitAsync(lane, st);
                return _time.GetElapsedTime(start);
            }));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"final COMMIT  : {times.Length} sessions, all answered in {times.Max().TotalMilliseconds:0} ms (after the window)"));
        }
        foreach (var lane in _lanes)
        {
            // A server may grant a delegation despite WANT_NO_DELEG; returned, it cannot hold up the next run's OPEN.
            if (lane.Delegation.Type != DelegationType.None)
                await lane.Session.DelegReturnAsync(lane.File, lane.Delegation.StateId, cancellationToken);
            await lane.Session.CloseAsync(lane.File, lane.StateId, cancellationToken);
        }
    }

    /// <summary>A session's file, its open stateid, any delegation granted and the cursor its lanes share.</summary>
    private sealed class Lane(Nfs4Session session, FileHandle file, StateId stateId, Delegation delegation)
    {
        public readonly Nfs4Session Session = session;
        public readonly FileHandle File = file;
        public readonly StateId StateId = stateId;
        public readonly Delegation Delegation = delegation;

        /// <summary>Bytes asked for (READ) or written (WRITE) so far by the session's lanes; the next offset is this modulo the file's span.</summary>
        public long Issued;

        private readonly Lock _lock = new();
        private ulong? _verifier;

        /// <summary>The first WRITE's verifier is the session's; any later one that differs is an error.</summary>
        public void CheckVerifier(ulong verifier, WorkerStats st)
        {
            lock (_lock)
            {
                _verifier ??= verifier;
                if (_verifier != verifier)
                    st.Error("write verifier changed (the server lost unstable writes)");
            }
        }
    }
}
