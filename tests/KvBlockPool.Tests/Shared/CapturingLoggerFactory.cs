using KvBlockPool.Lifecycle;
using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace KvBlockPool.Tests.Shared;

/// <summary>
/// An <see cref="ILoggerFactory"/> that keeps every entry at every level, from any thread, so tests can assert what
/// the library logged. Give it to a pool (<see cref="TestPools.Create"/>'s <c>loggerFactory</c>) or to an
/// <see cref="AgentCacheManager"/>.
/// </summary>
internal sealed class CapturingLoggerFactory : ILoggerFactory
{
    private readonly ConcurrentQueue<LogEntry> _entries = new();

    /// <summary>The entries so far, oldest first.</summary>
    public IReadOnlyList<LogEntry> Entries => [.. _entries];

    public ILogger CreateLogger(string categoryName) => new CapturingLogger(categoryName, _entries);

    public void AddProvider(ILoggerProvider provider) => throw new NotSupportedException();

    public void Dispose()
    {
    }

    private sealed class CapturingLogger(string category, ConcurrentQueue<LogEntry> entries) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            entries.Enqueue(new LogEntry(category, logLevel, eventId, formatter(state, exception)));
    }
}
