using System.Globalization;

namespace KvBlockPool.Benchmarks.Prefix;

/// <summary>
/// A recorded shared-prefix workload (<c>shared-prefix-trace.csv</c>): requests of multi-turn conversations, each on
/// one of a few system prompts. A request's prompt is its system prompt, every earlier turn of its conversation
/// (user message and reply) and its new user message; its reply is decoded after. Token ids are derived from the
/// record, so the file stays small and the replay is exact.
/// </summary>
internal sealed record PrefixTraceRequest(int SystemPrompt, int SystemTokens, int Conversation, int Turn, int UserTokens, int ReplyTokens)
{
    /// <summary>The tokens of the request's prompt: system prompt, earlier turns, the new user message.</summary>
    public int[] Prompt(IReadOnlyList<PrefixTraceRequest> earlierTurns)
    {
        var tokens = new List<int>(SystemTokens + 4096);
        for (int i = 0; i < SystemTokens; i++)
        {
            tokens.Add((SystemPrompt * 100_000) + i);
        }

        foreach (PrefixTraceRequest turn in earlierTurns)
        {
            tokens.AddRange(turn.UserMessage());
            tokens.AddRange(turn.Reply());
        }

        tokens.AddRange(UserMessage());
        return [.. tokens];
    }

    /// <summary>The user message's tokens.</summary>
    public IEnumerable<int> UserMessage() => Enumerable.Range(0, UserTokens).Select(i => Token(1, i));

    /// <summary>The reply's tokens.</summary>
    public IEnumerable<int> Reply() => Enumerable.Range(0, ReplyTokens).Select(i => Token(2, i));

    private int Token(int part, int index) => 10_000_000 + (int)((uint)HashCode.Combine(Conversation, Turn, part, index) % 50_000);
}

/// <summary>Reads, writes and generates the recorded trace.</summary>
internal static class PrefixTrace
{
    /// <summary>The recorded trace, next to this file in the repository and copied to the output.</summary>
    public const string FileName = "shared-prefix-trace.csv";

    /// <summary>Generates the trace the file records (how it was made; the file is what the replay reads).</summary>
    public static List<PrefixTraceRequest> Generate(int requests, int seed)
    {
        var random = new Random(seed);
        int[] systemTokens = [1_024, 2_048, 512, 1_536, 768, 2_048, 1_024, 256];
        var conversations = new List<(int System, int Turns)>();
        var trace = new List<PrefixTraceRequest>(requests);
        while (trace.Count < requests)
        {
            // Two in three requests continue a recent conversation; the rest start one.
            if (conversations.Count > 0 && random.Next(3) != 0)
            {
                int pick = conversations.Count - 1 - Math.Min(conversations.Count - 1, (int)Math.Abs(random.NextDouble() * random.NextDouble() * 40));
                (int system, int turns) = conversations[pick];
                if (turns < 6)
                {
                    conversations[pick] = (system, turns + 1);
                    trace.Add(new PrefixTraceRequest(system, systemTokens[system], pick, turns, random.Next(16, 200), random.Next(32, 300)));
                    continue;
                }
            }

            int newSystem = Math.Min(systemTokens.Length - 1, (int)(random.NextDouble() * random.NextDouble() * systemTokens.Length));
            conversations.Add((newSystem, 1));
            trace.Add(new PrefixTraceRequest(newSystem, systemTokens[newSystem], conversations.Count - 1, 0, random.Next(16, 200), random.Next(32, 300)));
        }

        return trace;
    }

    /// <summary>Writes the trace as CSV.</summary>
    public static void Write(string path, IEnumerable<PrefixTraceRequest> trace) =>
        File.WriteAllLines(path, ["system,system_tokens,conversation,turn,user_tokens,reply_tokens", .. trace.Select(r => string.Create(CultureInfo.InvariantCulture, $"{r.SystemPrompt},{r.SystemTokens},{r.Conversation},{r.Turn},{r.UserTokens},{r.ReplyTokens}"))]);

    /// <summary>Reads the trace.</summary>
    public static List<PrefixTraceRequest> Read(string path) =>
        [.. File.ReadLines(path).Skip(1).Select(line => line.Split(',').Select(f => int.Parse(f, CultureInfo.InvariantCulture)).ToArray()).Select(f => new PrefixTraceRequest(f[0], f[1], f[2], f[3], f[4], f[5]))];
}
