using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text.Json;
using KvBlockPool.Cli.Simulate.Output;

namespace KvBlockPool.Cli.Simulate.Tier;

/// <summary>
/// Runs the second host of <c>--hosts 2</c>: this command line again, in a process of its own, with the same workload
/// and seed, on the first host's tier (its end point) and key secret (passed in the environment, never on the command
/// line). It starts after the first host has finished and flushed its offload, so every system prompt and first turn
/// it admits was computed by the first host: those chunks come from the tier, not from its own prefill.
/// </summary>
internal static class SecondHostProcess
{
    /// <summary>The second host gets the run's duration and this much more (start-up, connecting, its own flush).</summary>
    private static readonly TimeSpan Slack = TimeSpan.FromMinutes(2);

    public static SecondHostRun Run(SimulationSettings settings, TierSession tier)
    {
        var start = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        string[] prefix = Launcher(out string file);
        start.FileName = file;
        foreach (string argument in prefix.Concat(Arguments(settings, tier.EndPoint, settings.Tier)))
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment[TierEnvironment.KeySecret] = Convert.ToHexString(tier.KeySecret);
        using Process process = Process.Start(start) ?? throw new InvalidOperationException($"{file} did not start.");
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(settings.DurationSeconds) + Slack))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            return new SecondHostRun(process.Id, -1, null, $"the second host did not finish within {settings.DurationSeconds + Slack.TotalSeconds:0} s and was stopped.");
        }

        string errors = error.GetAwaiter().GetResult().Trim();
        SimulationJsonDocument? report = null;
        try
        {
            report = JsonSerializer.Deserialize(output.GetAwaiter().GetResult(), SimulationJsonContext.Default.SimulationJsonDocument);
        }
        catch (JsonException problem)
        {
            errors = $"{errors}\nits report could not be read: {problem.Message}".Trim();
        }

        return new SecondHostRun(process.Id, process.ExitCode, report, errors.Length == 0 ? null : errors);
    }

    /// <summary>The second host's command line: the first's workload, as JSON, on the given tier, one host.</summary>
    internal static IEnumerable<string> Arguments(SimulationSettings s, string endPoint, TierChoice tier)
    {
        var arguments = new List<string>
        {
            "simulate",
            "--preset", s.Preset,
            "--capacity-mib", Invariant(s.CapacityMiB),
            "--agents", Invariant(s.Agents),
            "--threads", Invariant(s.Threads),
            "--duration", s.DurationSeconds.ToString("R", CultureInfo.InvariantCulture),
            "--seed", Invariant(s.Seed),
            "--workload", WorkloadNames.SharedPrefix,
            "--system-prompts", Invariant(s.SharedPrefix!.SystemPrompts),
            "--return-probability", s.SharedPrefix.ReturnProbability.ToString("R", CultureInfo.InvariantCulture),
            "--tier", endPoint,
            "--json",
        };
        if (tier.UseTls)
        {
            arguments.Add("--tier-tls");
            if (tier.CaCertificatePath is { } authority)
            {
                arguments.AddRange(["--tier-ca", authority]);
            }
        }

        if (s.SharedPrefix.SystemPromptTokens is { } tokens)
        {
            arguments.AddRange(["--system-prompt-tokens", Invariant(tokens)]);
        }

        if (s.Diagnostics)
        {
            arguments.Add("--diagnostics");
        }

        return arguments;
    }

    /// <summary>
    /// How to run this command line again: the same executable when it is the command line (its apphost, or the
    /// installed tool's), else (inside a test host) <c>dotnet exec</c> on this assembly.
    /// </summary>
    private static string[] Launcher(out string file)
    {
        Assembly cli = typeof(SecondHostProcess).Assembly;
        string current = Environment.ProcessPath ?? "dotnet";
        bool isMuxer = Path.GetFileNameWithoutExtension(current).Equals("dotnet", StringComparison.OrdinalIgnoreCase);
        if (Assembly.GetEntryAssembly() == cli && !isMuxer)
        {
            file = current;
            return [];
        }

        file = isMuxer ? current : Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
        return ["exec", cli.Location];
    }

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);
}
