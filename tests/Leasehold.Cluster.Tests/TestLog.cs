using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Leasehold.Cluster.Tests;

/// <summary>Collects log lines ("[EventId Level] message") from every logger it creates, for assertions on event ids.</summary>
internal sealed class TestLog : ILoggerFactory, ILoggerProvider
{
    private readonly ConcurrentQueue<(int Id, LogLevel Level, string Message, long At)> _lines = new();

    public IReadOnlyList<(int Id, LogLevel Level, string Message, long At)> Lines => [.. _lines];

    public bool Has(int id) => _lines.Any(l => l.Id == id);

    public override string ToString() => string.Join("\n", _lines.Select(l => $"[{l.Id} {l.Level}] {l.Message}"));

    public ILogger CreateLogger(string categoryName) => new Logger(this);

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    private sealed class Logger(TestLog log) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            log._lines.Enqueue((eventId.Id, logLevel, formatter(state, exception), System.Diagnostics.Stopwatch.GetTimestamp()));
    }
}
