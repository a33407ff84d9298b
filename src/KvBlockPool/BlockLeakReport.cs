using System.Globalization;
using System.Text;

namespace KvBlockPool;

/// <summary>What a pool still had allocated when it was disposed: who held how many blocks, and (in diagnostics mode) where they were allocated.</summary>
public sealed class BlockLeakReport
{
    internal BlockLeakReport(string poolName, Dictionary<AgentId, int> blocksByAgent, int uncommittedScopeBlocks, int openScopes, Dictionary<string, int> allocationStacks)
    {
        PoolName = poolName;
        BlocksByAgent = blocksByAgent;
        UncommittedScopeBlocks = uncommittedScopeBlocks;
        OpenScopes = openScopes;
        AllocationStacks = allocationStacks;
        TotalBlocks = uncommittedScopeBlocks;
        foreach (int count in blocksByAgent.Values)
        {
            TotalBlocks += count;
        }
    }

    /// <summary>The pool's name.</summary>
    public string PoolName { get; }

    /// <summary>Blocks each agent still held.</summary>
    public IReadOnlyDictionary<AgentId, int> BlocksByAgent { get; }

    /// <summary>Blocks held by allocation scopes that were neither committed nor disposed.</summary>
    public int UncommittedScopeBlocks { get; }

    /// <summary>Allocation scopes still open.</summary>
    public int OpenScopes { get; }

    /// <summary>All leaked blocks.</summary>
    public int TotalBlocks { get; }

    /// <summary>In diagnostics mode: the stacks that allocated leaked blocks, with how many each (up to 16 distinct stacks); empty otherwise.</summary>
    public IReadOnlyDictionary<string, int> AllocationStacks { get; }

    /// <summary>A readable report, one line per agent, then the allocation stacks.</summary>
    /// <returns>The report.</returns>
    public override string ToString()
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"Pool '{PoolName}' was disposed with {TotalBlocks} block(s) still allocated:");
        foreach (KeyValuePair<AgentId, int> pair in BlocksByAgent.OrderBy(p => p.Key.Value))
        {
            text.AppendLine().Append(CultureInfo.InvariantCulture, $"  {pair.Key}: {pair.Value} block(s)");
        }

        if (OpenScopes > 0)
        {
            text.AppendLine().Append(CultureInfo.InvariantCulture, $"  {OpenScopes} open allocation scope(s): {UncommittedScopeBlocks} block(s)");
        }

        foreach (KeyValuePair<string, int> stack in AllocationStacks)
        {
            text.AppendLine().Append(CultureInfo.InvariantCulture, $"  {stack.Value} block(s) allocated at:").AppendLine().Append(stack.Key.TrimEnd());
        }

        return text.ToString();
    }
}
