using Microsoft.Extensions.Logging;

namespace Leasehold.Export.Tests.LocalAccess;

/// <summary>A logger that keeps every event id and message, for tests that count log lines.</summary>
internal sealed class RecordingLogger : ILogger
{
    private readonly Lock _lock = new();
    private readonly List<(int Id, LogLevel Level, string Message)> _entries = [];

    public IReadOnlyList<(int Id, LogLevel Level, string Message)> Entries
    {
        get
        {
            lock (_lock)
                return [.. _entries];
        }
    }

    public int Count(int eventId) => Entries.Count(e => e.Id == eventId);

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (_lock)
            _entries.Add((eventId.Id, logLevel, formatter(state, exception)));
    }
}
