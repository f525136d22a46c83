using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Leasehold.IntegrationTests;

/// <summary>
/// A logger provider that keeps every entry the server logs at the configured level or above (the fixtures log
/// Warning and up), so a test can check what an operator would read. Register it in
/// <see cref="ServerFixture"/>'s ConfigureServices.
/// </summary>
public sealed class LogCapture : ILoggerProvider
{
    private readonly ConcurrentQueue<LogEntry> _entries = new();

    public IReadOnlyList<LogEntry> Entries => [.. _entries];

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(LogCapture owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner._entries.Enqueue(new LogEntry(category, logLevel, eventId.Id, formatter(state, exception)));
    }
}

/// <summary>One captured log entry: its category, level, event id and formatted message.</summary>
public sealed record LogEntry(string Category, LogLevel Level, int EventId, string Message);
