using KvBlockPool.Redis;

namespace KvBlockPool.Cli.Simulate.Tier;

/// <summary>
/// Where a shared-prefix run keeps its shared tier (<c>--tier</c>): in an in-process Garnet server (the default), in
/// an external Garnet, Redis or Valkey server at <c>host:port</c>, or nowhere.
/// </summary>
internal sealed record TierChoice
{
    public const string Embedded = "embedded";
    public const string None = "none";

    private TierChoice(string? endPoint, bool isEmbedded)
    {
        EndPoint = endPoint;
        IsEmbedded = isEmbedded;
    }

    public static TierChoice InProcess { get; } = new(null, isEmbedded: true);

    public static TierChoice Off { get; } = new(null, isEmbedded: false);

    /// <summary>The external server's <c>host:port</c>; null for the embedded server or no tier.</summary>
    public string? EndPoint { get; }

    /// <summary>Whether the external server is reached over TLS (<c>--tier-tls</c>).</summary>
    public bool UseTls { get; init; }

    /// <summary>The authority that issued the external server's certificate (<c>--tier-ca</c>), or null for the machine's trust store.</summary>
    public string? CaCertificatePath { get; init; }

    public bool IsEmbedded { get; }

    public bool IsOff => EndPoint is null && !IsEmbedded;

    public static TierChoice External(string endPoint) => new(endPoint, isEmbedded: false);

    /// <summary>Reads <c>--tier</c>'s value: <c>embedded</c>, <c>none</c> or <c>host:port</c> (a port 1 to 65535).</summary>
    public static bool TryParse(string text, out TierChoice? choice)
    {
        choice = text switch
        {
            Embedded => InProcess,
            None => Off,
            _ => RedisKvChunkStoreOptions.IsEndPoint(text) ? External(text) : null,
        };
        return choice is not null;
    }

    /// <summary>How the report names it.</summary>
    public override string ToString() => IsOff ? None : IsEmbedded ? "embedded Garnet (in this process, loopback)" : $"external server {EndPoint}{(UseTls ? " over TLS" : string.Empty)}";
}
