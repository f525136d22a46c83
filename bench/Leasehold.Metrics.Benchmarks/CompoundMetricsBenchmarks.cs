using BenchmarkDotNet.Attributes;
using Leasehold.Engine;
using Leasehold.Export;
using Leasehold.Nfs4;
using Leasehold.Nfs4.Compound;
using Leasehold.Nfs4.Protocol;
using Leasehold.Nfs4.State;
using Leasehold.Rpc.Messages;
using Leasehold.Rpc.Server;
using Microsoft.Extensions.Logging.Abstractions;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace Leasehold.Metrics.Benchmarks;

/// <summary>
/// What the request path's metrics cost one COMPOUND, isolated from everything else a COMPOUND does: the calls the RPC
/// layer and the COMPOUND loop make for the load generator's <c>meta</c> workload, one OPEN COMPOUND (SEQUENCE, PUTFH,
/// OPEN, GETFH, GETATTR) and one CLOSE COMPOUND (SEQUENCE, PUTFH, CLOSE) per invocation. Divide by 2 for a COMPOUND.
/// </summary>
/// <remarks>
/// <para><c>off</c> is Admin:Metrics=false (no listener); <c>on</c> has OpenTelemetry's meter provider with its
/// Prometheus exporter listening to the three layers' meters, built as AdminEndpoint builds it; <c>on-no-durations</c>
/// adds the Drop view of Admin:OperationDurations=false. Duration batches fill and are recorded by this thread (every
/// 128 invocations), as the server's socket thread records them, so their cost is in the mean.</para>
/// <para>Set against the server's measured CPU per COMPOUND (the load generator reports it), this is the share of a
/// COMPOUND's CPU the metrics take, without the run-to-run noise of two server processes.</para>
/// </remarks>
[MemoryDiagnoser]
public class CompoundMetricsBenchmarks : IDisposable
{
    private static readonly uint[] OpenCompound =
        [(uint)NfsOpcode.Sequence, (uint)NfsOpcode.PutFh, (uint)NfsOpcode.Open, (uint)NfsOpcode.GetFh, (uint)NfsOpcode.GetAttr];
    private static readonly uint[] CloseCompound = [(uint)NfsOpcode.Sequence, (uint)NfsOpcode.PutFh, (uint)NfsOpcode.Close];

    private string _root = "";
    private LeaseEngine _engine = null!;
    private LocalDirectoryTree _tree = null!;
    private Nfs4Server _server = null!;
    private RpcMetrics _rpc = null!;
    private MeterProvider? _meters;

    [Params("off", "on", "on-no-durations")]
    public string Metrics { get; set; } = "off";

    [GlobalSetup]
    public void Setup()
    {
        _root = Directory.CreateTempSubdirectory("leasehold-metrics-bench-").FullName;
        var export = new ExportOptions { Path = Directory.CreateDirectory(Path.Join(_root, "export")).FullName, StateDirectory = Path.Join(_root, "state") };
        _engine = new LeaseEngine(new LeaseEngineOptions(), TimeProvider.System, OwnerMatchers.SameGroup);
        _tree = new LocalDirectoryTree(export, new EngineChangeGate(_engine), NullLogger<LocalDirectoryTree>.Instance);
        _server = new Nfs4Server(_tree, _engine, export);
        _rpc = new RpcMetrics([Nfs4Program.NfsProgram]);
        if (Metrics != "off")
        {
            // As AdminEndpoint builds it (src/Leasehold.Host/Admin/AdminEndpoint.cs).
            var meters = Sdk.CreateMeterProviderBuilder()
                .AddMeter(EngineMetrics.MeterName, RpcMetrics.MeterName, Nfs4Metrics.MeterName);
            if (Metrics == "on-no-durations")
                meters.AddView(Nfs4Metrics.OperationDurationName, MetricStreamConfiguration.Drop);
            _meters = meters.AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0).Build();
        }
    }

    // BenchmarkDotNet calls it as the global cleanup; IDisposable says who owns the server.
    [GlobalCleanup]
    public void Dispose()
    {
        _meters?.Dispose();
        _rpc.Dispose();
        _server.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _tree.Dispose();
        _engine.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Directory.Delete(_root, recursive: true);
    }

    [Benchmark(Description = "meta's OPEN and CLOSE COMPOUNDs (8 operations)")]
    public void OpenClosePair()
    {
        Compound(OpenCompound);
        Compound(CloseCompound);
    }

    private void Compound(uint[] operations)
    {
        var metrics = _server.Metrics;
        long clock = metrics.OperationClock();
        foreach (uint op in operations)
            metrics.Operation(op, NfsStat4.Ok, ref clock);
        metrics.Compound(1, NfsStat4.Ok);
        _rpc.Call(Nfs4Program.NfsProgram, AcceptStat.Success);
    }
}
