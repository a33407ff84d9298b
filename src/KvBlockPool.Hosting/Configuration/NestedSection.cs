using Microsoft.Extensions.Configuration;

namespace KvBlockPool.Hosting.Configuration;

/// <summary>
/// Reads a setting that is a section of its own (<c>PrefixCache</c>, <c>Tier</c>) into a fresh options object: its
/// presence turns the feature on (an empty object too), <c>Enabled: false</c> turns it off while the other keys stay
/// in the file, and every unknown key, misplaced section or single value where a section belongs is reported by path.
/// </summary>
/// <typeparam name="T">The feature's options.</typeparam>
/// <param name="What">How messages name the feature: "the prefix cache".</param>
/// <param name="Settings">The section's keys (after <c>Enabled</c>) and how each is read.</param>
/// <param name="SingleValueHint">What a message suggests writing when the section is a single value.</param>
/// <param name="TakesSection">The keys whose value may itself be a section (a list), read by their own reader.</param>
internal sealed record NestedSection<T>(
    string What,
    (string Key, Action<KvBlockPoolHostingOptions, T, IConfigurationSection> Read)[] Settings,
    string SingleValueHint,
    params string[] TakesSection)
    where T : class, new()
{
    private const string Enabled = "Enabled";

    /// <summary>The keys the section may hold, in the order the documentation lists them.</summary>
    public string KnownKeys { get; } = string.Join(", ", Settings.Select(s => s.Key).Prepend(Enabled));

    /// <summary>Reads <paramref name="section"/>: the options, or null when the section is off (or is not a section).</summary>
    public T? Read(KvBlockPoolHostingOptions options, IConfigurationSection section)
    {
        if (section.Value is not null)
        {
            if (section.Value.Length > 0)
            {
                options.BindingErrors.Add(SectionReader.Invariant(
                    $"{section.Path}: expected a section with the keys {KnownKeys}, found a single value. {SingleValueHint}"));
            }

            return null;
        }

        var read = new T();
        bool enabled = true;
        foreach (IConfigurationSection child in section.GetChildren())
        {
            if (child.Key.Equals(Enabled, StringComparison.OrdinalIgnoreCase) && child.Value is not null)
            {
                enabled = SectionReader.ReadBool(options, child) ?? true;
                continue;
            }

            (string Key, Action<KvBlockPoolHostingOptions, T, IConfigurationSection> Read) setting =
                Array.Find(Settings, s => s.Key.Equals(child.Key, StringComparison.OrdinalIgnoreCase));
            if (setting.Key is null && !child.Key.Equals(Enabled, StringComparison.OrdinalIgnoreCase))
            {
                options.BindingErrors.Add(SectionReader.Invariant($"{child.Path}: not a setting of {What}. Use: {KnownKeys}."));
            }
            else if (child.Value is null && !TakesSection.Contains(setting.Key))
            {
                options.BindingErrors.Add(SectionReader.Invariant($"{child.Path}: expected a single value, found a section."));
            }
            else
            {
                setting.Read(options, read, child);
            }
        }

        return enabled ? read : null;
    }
}
