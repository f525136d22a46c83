using System.Diagnostics;

namespace Leasehold.Engine.Benchmarks;

/// <summary>
/// Target 4: one writer breaks 10,000 read delegations on one file (10,000 owners, each with its own holder that
/// releases from OnBreak). Timed from the writer's call until its await resumes, which the engine allows only once
/// the last delegation is gone; every holder must have been told by then.
/// </summary>
internal static class FanOutMeasurement
{
    private static readonly Owner Writer = new(ulong.MaxValue, 1);

    public static async Task<IReadOnlyList<ResultRow>> RunAsync(int warmup, int rounds)
    {
        const int delegations = FanOutBreakBenchmarks.Delegations;
        await using var engine = new LeaseEngine();
        var holders = new ReleasingHolder[delegations];
        for (int i = 0; i < delegations; i++)
            holders[i] = new ReleasingHolder(engine);

        var ms = new List<double>();
        for (int round = 0; round < warmup + rounds; round++)
        {
            // A fresh file each round: a file whose delegations were recalled refuses new ones for the recall window (30 s).
            var file = FileKey.From(100_000 + (ulong)round);
            for (int i = 0; i < delegations; i++)
            {
                holders[i].Reset();
                engine.GrantNow(new GrantRequest(file, new Owner((ulong)i + 1, 1), GrantKind.Delegation, GrantMode.Read, holders[i]));
            }
            long start = Stopwatch.GetTimestamp();
            var result = await engine.BreakAsync(file, FileOperation.OpenWrite, Writer, BreakMode.Await);
            double elapsed = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            int told = holders.Sum(h => h.Breaks);
            if (!result.CanProceed || told != delegations)
                throw new InvalidOperationException($"Round {round}: writer got {result.Status}, {told} of {delegations} holders told.");
            if (round >= warmup)
                ms.Add(elapsed);
        }

        var sorted = ms.Order().ToArray();
        double median = Fmt.Quantile(sorted, 0.5), max = sorted[^1];
        return
        [
            new ResultRow("4", "Writer breaks 10,000 read delegations on one file, all notified and writer released (median)", "≤ 20 ms",
                $"{median:F2} ms", median <= 20, $"min {sorted[0]:F2} ms, max {max:F2} ms over {rounds} rounds"),
        ];
    }
}
