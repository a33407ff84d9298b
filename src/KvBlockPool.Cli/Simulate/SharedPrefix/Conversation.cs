using System.Runtime.InteropServices;

namespace KvBlockPool.Cli.Simulate.SharedPrefix;

/// <summary>
/// One client's conversation: its system prompt, then every user message and answer so far. Each turn's prompt is
/// all of it plus the new user message, so a returning conversation hits its own earlier chunks while they are cached.
/// Used by one worker at a time.
/// </summary>
internal sealed class Conversation
{
    private readonly List<int> _tokens;

    public Conversation(int[] systemPrompt, int capacity)
    {
        _tokens = new List<int>(capacity);
        _tokens.AddRange(systemPrompt);
    }

    /// <summary>The conversation's tokens so far.</summary>
    public ReadOnlySpan<int> Tokens => CollectionsMarshal.AsSpan(_tokens);

    public int Count => _tokens.Count;

    /// <summary>Turns admitted so far (the first is 1).</summary>
    public int Turns { get; set; }

    /// <summary>The worker's admission count from which a returning conversation may be admitted again: the client's time to read and reply.</summary>
    public long ReadyAt { get; set; }

    public void Add(int token) => _tokens.Add(token);

    /// <summary>Drops the tokens after the first <paramref name="count"/> (a prompt that was not admitted).</summary>
    public void CutTo(int count) => _tokens.RemoveRange(count, _tokens.Count - count);
}
