namespace KvBlockPool;

/// <summary>
/// The handle names a block of a cached prefix chunk: shared read-only by every agent that references it, so it can
/// be neither written through a writable span or pointer nor freed by one agent. Read it through a lease or a view;
/// drop an agent's reference by releasing or truncating the agent.
/// </summary>
public sealed class SharedBlockException : InvalidBlockHandleException
{
    internal SharedBlockException(KvBlock block, string message)
        : base(block, InvalidBlockHandleReason.Shared, message)
    {
    }
}
