namespace KvBlockPool.Cli.Simulate.SharedPrefix;

/// <summary>
/// Token ids made from the run's seed, so a run can be repeated: system prompts are a pure function of (seed, prompt
/// number, position), whichever thread asks first; user messages and answers come from each worker's seeded random.
/// </summary>
internal static class TokenIds
{
    /// <summary>Ids below this, the size of a typical vocabulary; the cache only hashes them.</summary>
    public const int Vocabulary = 32_000;

    /// <summary>Fills <paramref name="destination"/> with system prompt <paramref name="prompt"/> of the run seeded <paramref name="seed"/>.</summary>
    public static void SystemPrompt(int seed, long prompt, Span<int> destination)
    {
        ulong stream = Mix(Mix((ulong)(uint)seed) ^ (ulong)prompt);
        for (int i = 0; i < destination.Length; i++)
        {
            destination[i] = (int)(Mix(stream + (ulong)i) % Vocabulary);
        }
    }

    /// <summary>One id for a user message or an answer.</summary>
    public static int Next(Random random) => random.Next(Vocabulary);

    // SplitMix64's finaliser: consecutive inputs give unrelated outputs.
    private static ulong Mix(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }
}
