using Microsoft.Extensions.Logging;

namespace KvBlockPool.Tests.Shared;

/// <summary>One log entry as the library wrote it.</summary>
internal sealed record LogEntry(string Category, LogLevel Level, EventId EventId, string Message);
