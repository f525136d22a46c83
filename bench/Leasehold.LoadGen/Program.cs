using Leasehold.LoadGen;

// The load generator's whole run is bounded: preparation and session setup by the RPC timeouts, the workload by
// --warmup + --duration, and everything together by a hard deadline after which the process gives up.
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
var hardLimit = options.Warmup + options.Duration + TimeSpan.FromMinutes(5);
using var deadline = new CancellationTokenSource(hardLimit, time);
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    deadline.Cancel();
};
try
{
    return await new Runner(options, time, Console.Out).RunAsync(deadline.Token).WaitAsync(hardLimit, time);
}
catch (Exception ex) when (ex is OperationCanceledException or TimeoutException)
{
    Console.Error.WriteLine($"error: gave up: {ex.Message}");
    return 4;
}
catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or Leasehold.Nfs4.Client.Nfs4StatusException
    or Leasehold.Nfs4.Client.Rpc.RpcException)
{
    Console.Error.WriteLine($"error: {ex.GetType().Name}: {ex.Message}");
    return 1;
}
