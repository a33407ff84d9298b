using System.Globalization;

namespace KvBlockPool.Lifecycle;

/// <summary>What the lifecycle layer knows about one admitted agent, at one instant.</summary>
public readonly struct AgentCacheInfo : IEquatable<AgentCacheInfo>
{
    internal AgentCacheInfo(AgentId agent, int tokens, int blocksPerLayer, int layers, int tokensPerBlock)
    {
        Agent = agent;
        Tokens = tokens;
        BlocksPerLayer = blocksPerLayer;
        Layers = layers;
        TokensPerBlock = tokensPerBlock;
    }

    /// <summary>The agent.</summary>
    public AgentId Agent { get; }

    /// <summary>Tokens in the agent's cache.</summary>
    public int Tokens { get; }

    /// <summary>Blocks the agent holds on each layer (the same on every layer).</summary>
    public int BlocksPerLayer { get; }

    /// <summary>Layers of the spec.</summary>
    public int Layers { get; }

    /// <summary>Tokens one block holds.</summary>
    public int TokensPerBlock { get; }

    /// <summary>Blocks the agent holds on all layers together.</summary>
    public int TotalBlocks => BlocksPerLayer * Layers;

    /// <summary>Tokens in the last block of each layer: from 1 to <see cref="TokensPerBlock"/>, or 0 when the agent holds no block.</summary>
    public int LastBlockTokens => BlocksPerLayer == 0 ? 0 : Tokens - ((BlocksPerLayer - 1) * TokensPerBlock);

    /// <summary>Tokens that can still be appended before a new block is needed on every layer.</summary>
    public int FreeSlotsInLastBlock => BlocksPerLayer == 0 ? 0 : TokensPerBlock - LastBlockTokens;

    /// <inheritdoc/>
    public bool Equals(AgentCacheInfo other) =>
        Agent == other.Agent && Tokens == other.Tokens && BlocksPerLayer == other.BlocksPerLayer && Layers == other.Layers && TokensPerBlock == other.TokensPerBlock;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is AgentCacheInfo other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Agent, Tokens, BlocksPerLayer, Layers, TokensPerBlock);

    /// <summary>A one-line description, e.g. <c>agent 7: 37 tokens, 3 block(s) x 32 layers, last block 5/16</c>.</summary>
    /// <returns>The description.</returns>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{Agent}: {Tokens} tokens, {BlocksPerLayer} block(s) x {Layers} layers, last block {LastBlockTokens}/{TokensPerBlock}");

    /// <summary>Compares two snapshots.</summary>
    /// <param name="left">A snapshot.</param>
    /// <param name="right">A snapshot.</param>
    /// <returns><see langword="true"/> when they are equal.</returns>
    public static bool operator ==(AgentCacheInfo left, AgentCacheInfo right) => left.Equals(right);

    /// <summary>Compares two snapshots.</summary>
    /// <param name="left">A snapshot.</param>
    /// <param name="right">A snapshot.</param>
    /// <returns><see langword="true"/> when they differ.</returns>
    public static bool operator !=(AgentCacheInfo left, AgentCacheInfo right) => !left.Equals(right);
}
