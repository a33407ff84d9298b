namespace KvBlockPool.Cli;

/// <summary>A command line that cannot be run; the message says what to change. Exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message)
{
}
