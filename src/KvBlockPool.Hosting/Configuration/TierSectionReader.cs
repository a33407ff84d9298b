using Microsoft.Extensions.Configuration;

namespace KvBlockPool.Hosting.Configuration;

/// <summary>
/// Reads the <c>Tier</c> section into <see cref="KvBlockPoolHostingOptions.Tier"/>: its presence turns the tier on,
/// <c>Enabled: false</c> turns it off while keeping the other keys in the file. <c>EndPoints</c> is an array or one
/// comma-separated string; durations carry a unit (<see cref="Duration"/>). The password is taken as written and never
/// appears in a message.
/// </summary>
internal static class TierSectionReader
{
    private static readonly NestedSection<KvTierHostingOptions> Section = new(
        "the tier",
        [
            (nameof(KvTierHostingOptions.EndPoints), ReadEndPoints),
            (nameof(KvTierHostingOptions.User), (_, t, s) => t.User = NullIfEmpty(s.Value)),
            (nameof(KvTierHostingOptions.Password), (_, t, s) => t.Password = NullIfEmpty(s.Value)),
            (nameof(KvTierHostingOptions.UseTls), (o, t, s) => t.UseTls = SectionReader.ReadBool(o, s) ?? t.UseTls),
            (nameof(KvTierHostingOptions.TlsHost), (_, t, s) => t.TlsHost = NullIfEmpty(s.Value)),
            (nameof(KvTierHostingOptions.TlsCaCertificatePath), (_, t, s) => t.TlsCaCertificatePath = NullIfEmpty(s.Value)),
            (nameof(KvTierHostingOptions.KeyPrefix), (_, t, s) => t.KeyPrefix = NullIfEmpty(s.Value) ?? t.KeyPrefix),
            (nameof(KvTierHostingOptions.ConnectTimeout), (o, t, s) => t.ConnectTimeout = ReadDuration(o, s) ?? t.ConnectTimeout),
            (nameof(KvTierHostingOptions.OperationTimeout), (o, t, s) => t.OperationTimeout = ReadDuration(o, s) ?? t.OperationTimeout),
            (nameof(KvTierHostingOptions.TimeToLive), (o, t, s) => t.TimeToLive = ReadDuration(o, s)),
            (nameof(KvTierHostingOptions.RestoreTimeout), (o, t, s) => t.RestoreTimeout = ReadDuration(o, s) ?? t.RestoreTimeout),
            (nameof(KvTierHostingOptions.MaxReadsInFlight), (o, t, s) => t.MaxReadsInFlight = SectionReader.ReadInt(o, s) ?? t.MaxReadsInFlight),
            (nameof(KvTierHostingOptions.OffloadQueueCapacity), (o, t, s) => t.OffloadQueueCapacity = SectionReader.ReadInt(o, s) ?? t.OffloadQueueCapacity),
        ],
        "Write \"Tier\": { \"EndPoints\": \"host:6379\" }.",
        nameof(KvTierHostingOptions.EndPoints));

    /// <summary>Applies the section to <paramref name="options"/>; problems go to <see cref="KvBlockPoolHostingOptions.BindingErrors"/>.</summary>
    public static void Read(KvBlockPoolHostingOptions options, IConfigurationSection section) =>
        options.Tier = Section.Read(options, section);

    private static void ReadEndPoints(KvBlockPoolHostingOptions options, KvTierHostingOptions tier, IConfigurationSection section)
    {
        if (section.Value is { } text)
        {
            foreach (string value in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                tier.EndPoints.Add(value);
            }

            return;
        }

        foreach (IConfigurationSection child in section.GetChildren())
        {
            if (child.Value is null)
            {
                options.BindingErrors.Add(SectionReader.Invariant($"{child.Path}: expected host:port, found a section."));
            }
            else if (!string.IsNullOrWhiteSpace(child.Value))
            {
                tier.EndPoints.Add(child.Value.Trim());
            }
        }
    }

    private static TimeSpan? ReadDuration(KvBlockPoolHostingOptions options, IConfigurationSection value)
    {
        if (string.IsNullOrWhiteSpace(value.Value))
        {
            return null;
        }

        if (Duration.TryParse(value.Value, out TimeSpan duration))
        {
            return duration;
        }

        options.BindingErrors.Add(SectionReader.Invariant($"{value.Path}: '{value.Value}' is not a duration. Write {Duration.AcceptedForms}."));
        return null;
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
