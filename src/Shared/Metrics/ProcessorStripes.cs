using System.Numerics;

namespace Leasehold.Metrics;

/// <summary>
/// How many per-processor stripes the metrics' hot-path structures keep (<see cref="StripedCounts"/>, the NFS layer's
/// batched histogram), and which one the calling thread uses: the processor count rounded up to a power of two (at most
/// 64), indexed by <see cref="Thread.GetCurrentProcessorId"/>. A thread that moves processors still lands on a valid
/// stripe; the stripes only keep two processors off one cache line most of the time.
/// </summary>
/// <remarks>Shared source (src/Shared), compiled into each layer that measures its hot path.</remarks>
internal static class ProcessorStripes
{
    public static readonly int Count = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Clamp(Environment.ProcessorCount, 1, 64));

    public static int Current => Thread.GetCurrentProcessorId() & (Count - 1);
}
