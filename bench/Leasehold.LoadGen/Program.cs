using Leasehold.LoadGen;

// The load generator's whole run is bounded: preparation and session setup by the RPC timeouts, the workload by
// --warmup + --duration, and everything together by a hard deadline after which the process gives up.
if (args is ["--help"] or ["-h"])
{
    Console.WriteLine(LoadGenOptions.Usage);
    return 0;
}

LoadGenOptions options;
try
{
    options = LoadGenOptions.Parse(args);
}
catch (Exception ex) when (ex is ArgumentException or FormatException)
{
    Console.Error.WriteLine($"error: {ex.Message}");
    Console.Error.WriteLine(LoadGenOptions.Usage);
    return 2;
}

var time = TimeProvider.System;
// The delegation benchmarks are bounded by their counts and the RPC timeouts; 20 minutes is far past any of them.
var hardLimit = options switch
{
    { Targets: { } targets } => (options.Warmup + options.Duration) * targets.Count * options.Rounds + TimeSpan.FromMinutes(5),
    _ when options.Workload.IsClosedLoop() => options.Warmup + options.Duration + TimeSpan.FromMinutes(5),
    _ => TimeSpan.FromMinutes(20),
};
using var deadline = new CancellationTokenSource(hardLimit, time);
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    deadline.Cancel();
};
try
{
    var run = options switch
    {
        { Targets: not null } => new CompareRunner(options, time, Console.Out).RunAsync(deadline.Token),
        { Workload: Workload.Recall } => new RecallBench(options, Console.Out).RunAsync(deadline.Token),
        { Workload: Workload.FanOut } => new FanOutBench(options, Console.Out).RunAsync(deadline.Token),
        { Workload: Workload.LocalOpen } => new LocalOpenBench(options, Console.Out).RunAsync(deadline.Token),
        { Workload: Workload.Tokens } => new TokenBench(options, Console.Out).RunAsync(deadline.Token),
        { Workload: Workload.DelegMemory } => new DelegationMemoryBench(options, Console.Out).RunAsync(deadline.Token),
        _ => new Runner(options, options.Server!, options.Path, options.Label ?? $"{options.Server!.Host}:{options.Server.Port}", time, Console.Out, options.ServerPid)
            .RunAsync(deadline.Token),
    };
    return await run.WaitAsync(hardLimit, time);
}
catch (Exception ex) when (ex is OperationCanceledException or TimeoutException)
{
    Console.Error.WriteLine($"error: gave up: {ex.Message}");
    return 4;
}
catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or Leasehold.Nfs4.Client.Nfs4StatusException
    or Leasehold.Nfs4.Client.Rpc.RpcException or InvalidOperationException)
{
    Console.Error.WriteLine($"error: {ex.GetType().Name}: {ex.Message}");
    return 1;
}
