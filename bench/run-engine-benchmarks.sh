#!/usr/bin/env bash
# Builds the engine benchmarks in Release and runs every measurement, then prints the results table.
#
#   bench/run-engine-benchmarks.sh            full run (about 5-8 minutes on 2 cores)
#   bench/run-engine-benchmarks.sh --quick    a fast pass to check that everything runs; the numbers mean little
#
# Each mode runs in a process of its own: the heap measurement needs a heap with nothing else on it, and
# BenchmarkDotNet runs in-process (0.14.0 cannot build a net10.0 child process). Results land in
# BenchmarkDotNet.Artifacts/ (gitignored): engine-results/results.md is the table docs/benchmarks.md quotes.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

quick=()
if [[ "${1:-}" == "--quick" ]]; then
    quick=(--quick)
fi

results="BenchmarkDotNet.Artifacts/engine-results"
rm -rf "$results"
mkdir -p "$results"

dotnet build bench/Leasehold.Engine.Benchmarks/Leasehold.Engine.Benchmarks.csproj -c Release --nologo -v quiet
exe="bench/Leasehold.Engine.Benchmarks/bin/Release/net10.0/Leasehold.Engine.Benchmarks"

run() {
    echo "=== $1" >&2
    "$exe" "$@" "${quick[@]}" --results "$results"
}

run memory                                        # target 5, first, on a fresh heap
run bdn > "$results/bdn.log"                      # targets 1-4 (BenchmarkDotNet tables are in the log)
grep -E '^\[[0-9]' "$results/bdn.log" >&2 || true
run roundtrip                                     # target 3, per-operation median
run fanout                                        # target 4
run scaling                                       # target 6

echo
echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB RAM, $(. /etc/os-release && echo "$PRETTY_NAME"), .NET $(dotnet --list-runtimes | awk '/NETCore.App/ {v=$2} END {print v}')"
echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
"$exe" summary --results "$results"
