using KvBlockPool.Prefix;

namespace KvBlockPool.Lifecycle;

/// <summary>
/// What the manager remembers of an agent admitted with its prompt's tokens, so that the chunks it fills can be
/// published: its token ids, the keys of its full chunks computed so far, and how many chunks from the start are
/// already dealt with (hit at admission, published, or passed over as a duplicate). Guarded by the record's lock.
/// </summary>
internal sealed class PrefixTrack
{
    private int[] _tokens = [];
    private KvChunkKey[] _keys = [];

    /// <summary>Whether the agent was admitted with its tokens; only such agents publish.</summary>
    public bool IsActive { get; private set; }

    public KvChunkKey Root { get; private set; }

    public int TokenCount { get; private set; }

    public int KeyCount { get; private set; }

    /// <summary>Chunks from the start that are in the cache for this agent, or were offered to it.</summary>
    public int Published { get; set; }

    /// <summary>Hit at admission: how many chunks the agent shares from the cache.</summary>
    public int Hits { get; private set; }

    public ReadOnlySpan<KvChunkKey> Keys => _keys.AsSpan(0, KeyCount);

    /// <summary>The agent's token ids, one per token while the agent keeps them (see <see cref="TokenCount"/>).</summary>
    public ReadOnlySpan<int> Tokens => _tokens.AsSpan(0, TokenCount);

    /// <summary>Starts tracking an admitted agent whose keys were computed before its blocks were granted.</summary>
    public void Start(KvChunkKey root, ReadOnlySpan<int> tokens, ReadOnlySpan<KvChunkKey> keys, int hits)
    {
        EnsureTokens(tokens.Length);
        tokens.CopyTo(_tokens);
        if (_keys.Length < keys.Length)
        {
            _keys = new KvChunkKey[Math.Max(keys.Length, 8)];
        }

        keys.CopyTo(_keys);
        Root = root;
        TokenCount = tokens.Length;
        KeyCount = keys.Length;
        Published = hits;
        Hits = hits;
        IsActive = true;
    }

    /// <summary>Makes room for one more token id (before the pool is asked, so nothing can fail after it granted).</summary>
    public void EnsureTokens(int count)
    {
        if (_tokens.Length < count)
        {
            Array.Resize(ref _tokens, Math.Max(count, Math.Max(16, _tokens.Length * 2)));
        }
    }

    public void AddToken(int token) => _tokens[TokenCount++] = token;

    /// <summary>Computes the keys of the full chunks of the first <paramref name="tokens"/> tokens not keyed yet.</summary>
    public void KeyUpTo(int tokens, ChunkKeyHasher hasher)
    {
        int full = Math.Min(tokens, TokenCount) / hasher.TokensPerChunk;
        if (full <= KeyCount)
        {
            return;
        }

        if (_keys.Length < full)
        {
            Array.Resize(ref _keys, Math.Max(full, _keys.Length * 2));
        }

        KvChunkKey parent = KeyCount == 0 ? Root : _keys[KeyCount - 1];
        int start = KeyCount * hasher.TokensPerChunk;
        KeyCount += hasher.ComputeKeys(parent, _tokens.AsSpan(start, (full * hasher.TokensPerChunk) - start), _keys.AsSpan(KeyCount, full - KeyCount));
    }

    /// <summary>The cache shrank to <paramref name="tokens"/> tokens: forget the ids, keys and published chunks beyond them.</summary>
    public void Truncate(int tokens, int tokensPerChunk)
    {
        TokenCount = Math.Min(TokenCount, tokens);
        KeyCount = Math.Min(KeyCount, tokens / tokensPerChunk);
        Published = Math.Min(Published, tokens / tokensPerChunk);
        Hits = Math.Min(Hits, Published);
    }

    public void Reset()
    {
        IsActive = false;
        Root = default;
        TokenCount = 0;
        KeyCount = 0;
        Published = 0;
        Hits = 0;
    }
}
