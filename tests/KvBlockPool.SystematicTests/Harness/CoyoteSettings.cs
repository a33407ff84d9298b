using System.Globalization;

namespace KvBlockPool.SystematicTests.Harness;

/// <summary>
/// How long and from where Coyote explores, from the environment so that CI and deep runs use the same tests.
/// </summary>
/// <param name="Iterations">Schedules explored per scenario.</param>
/// <param name="Seed">The seed of Coyote's scheduling choices; fixed, so that every run explores the same schedules.</param>
/// <param name="ReplayFile">A trace written by a failed run, to replay instead of exploring; null to explore.</param>
/// <param name="DeadlockTimeoutMs">
/// How long Coyote's deadlock monitor waits for a schedule to make progress before it reports a potential deadlock.
/// Coyote's default, 1 s, is right for CI; a deep run sets more, because a schedule starved of CPU (the run shares
/// its cores) or stopped by a blocking collection of a heap grown to gigabytes over 100,000 iterations makes no
/// progress for a second without any deadlock: four such reports in the first deep run, none of which replayed.
/// A real deadlock is still reported, later.
/// </param>
internal sealed record CoyoteSettings(uint Iterations, uint Seed, string? ReplayFile, uint DeadlockTimeoutMs = CoyoteSettings.DefaultDeadlockTimeoutMs)
{
    /// <summary>Schedules per scenario; the CI default is <see cref="DefaultIterations"/>.</summary>
    public const string IterationsVariable = "KVBLOCKPOOL_COYOTE_ITERATIONS";

    /// <summary>The seed; the default is <see cref="DefaultSeed"/>.</summary>
    public const string SeedVariable = "KVBLOCKPOOL_COYOTE_SEED";

    /// <summary>Path of a <c>.trace</c> file to replay; only the scenario named by the file's name replays it.</summary>
    public const string ReplayVariable = "KVBLOCKPOOL_COYOTE_REPLAY";

    /// <summary>The deadlock monitor's timeout in milliseconds; the default is <see cref="DefaultDeadlockTimeoutMs"/>.</summary>
    public const string DeadlockTimeoutVariable = "KVBLOCKPOOL_COYOTE_DEADLOCK_TIMEOUT_MS";

    /// <summary>Coyote's own default.</summary>
    public const uint DefaultDeadlockTimeoutMs = 1000;

    public const uint DefaultIterations = 1000;

    public const uint DefaultSeed = 20251125;

    public static CoyoteSettings FromEnvironment() => From(Environment.GetEnvironmentVariable);

    /// <summary>The settings from any source of variables (tests pass a dictionary).</summary>
    public static CoyoteSettings From(Func<string, string?> variables) => new(
        Read(variables, IterationsVariable, DefaultIterations, minimum: 1),
        Read(variables, SeedVariable, DefaultSeed, minimum: 0),
        variables(ReplayVariable) is { Length: > 0 } path ? path : null,
        Read(variables, DeadlockTimeoutVariable, DefaultDeadlockTimeoutMs, minimum: 100));

    private static uint Read(Func<string, string?> variables, string variable, uint fallback, uint minimum)
    {
        string? text = variables(variable);
        if (string.IsNullOrWhiteSpace(text))
        {
            return fallback;
        }

        // A typo in a deep run's settings must not silently fall back to the short CI run.
        if (!uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out uint value) || value < minimum)
        {
            throw new InvalidOperationException($"{variable}='{text}' is not a whole number of at least {minimum}.");
        }

        return value;
    }
}
