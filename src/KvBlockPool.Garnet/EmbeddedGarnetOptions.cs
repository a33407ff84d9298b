using System.Net;
using System.Security.Cryptography.X509Certificates;

namespace KvBlockPool.Garnet;

/// <summary>
/// How <see cref="EmbeddedGarnetServer.Start(EmbeddedGarnetOptions?)"/> starts its server. The defaults suit one host or a
/// development machine: the loopback address, a free port, no password, 256 MiB for values.
/// </summary>
public sealed class EmbeddedGarnetOptions
{
    /// <summary>The least <see cref="MemoryMiB"/>: Garnet needs a few of its 16 MiB pages in memory.</summary>
    public const int MinMemoryMiB = 64;

    /// <summary>The most <see cref="MemoryMiB"/> (1 TiB).</summary>
    public const int MaxMemoryMiB = 1 << 20;

    /// <summary>
    /// The address to listen on. Defaults to <see cref="IPAddress.Loopback"/>: a shared tier holds every tenant's KV
    /// data, so listening beyond this machine must be asked for, and then guarded with <see cref="Password"/>.
    /// </summary>
    public IPAddress BindAddress { get; set; } = IPAddress.Loopback;

    /// <summary>The port, 1 to 65535, or 0 (the default) for a free port chosen at start.</summary>
    public int Port { get; set; }

    /// <summary>A password clients must give (Garnet's password authentication), or null for none. Never logged or printed.</summary>
    public string? Password { get; set; }

    /// <summary>
    /// A certificate with its private key that the server presents on a TLS connection, or null (the default) for plain
    /// TCP. With one, every client must connect with TLS and trust the certificate's issuer. Not owned: the caller
    /// disposes it after the server.
    /// </summary>
    public X509Certificate2? TlsCertificate { get; set; }

    /// <summary>
    /// Memory for values, in MiB, <see cref="MinMemoryMiB"/> to <see cref="MaxMemoryMiB"/>; default 256. Without a storage
    /// tier Garnet is a cache: when values outgrow this, the oldest are dropped and read back as misses.
    /// </summary>
    public int MemoryMiB { get; set; } = 256;

    /// <summary>Describes the options without the password.</summary>
    public override string ToString() =>
        $"{BindAddress}:{(Port == 0 ? "(free port)" : Port.ToString(System.Globalization.CultureInfo.InvariantCulture))}, {MemoryMiB} MiB, {(Password is null ? "no password" : "password set")}, TLS {(TlsCertificate is null ? "off" : "on")}";

    /// <summary>Refuses options no server can start with, naming the option and what it accepts.</summary>
    internal void Validate()
    {
        ArgumentNullException.ThrowIfNull(BindAddress, nameof(BindAddress));
        ArgumentOutOfRangeException.ThrowIfNegative(Port, nameof(Port));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(Port, IPEndPoint.MaxPort, nameof(Port));
        ArgumentOutOfRangeException.ThrowIfLessThan(MemoryMiB, MinMemoryMiB, nameof(MemoryMiB));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MemoryMiB, MaxMemoryMiB, nameof(MemoryMiB));
        if (Password is not null && string.IsNullOrWhiteSpace(Password))
        {
            throw new ArgumentException("Password is empty or white space: give a real one, or null for none.", nameof(Password));
        }

        if (TlsCertificate is { HasPrivateKey: false })
        {
            throw new ArgumentException($"TlsCertificate ({TlsCertificate.Subject}) has no private key: a server needs it to prove the certificate is its own. Load it with its key (a PKCS#12 file, or PEM with the key).", nameof(TlsCertificate));
        }
    }
}
