using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Garnet.server.TLS;
using KvBlockPool.Redis;
using KvBlockPool.Tier.Tests.Shared;
using Xunit.Abstractions;

namespace KvBlockPool.Tier.Tests.Store;

/// <summary>
/// The store over TLS against a Garnet server whose certificate a private authority issued (made here): trusted
/// through <see cref="RedisKvChunkStoreOptions.TlsCaCertificatePath"/> it connects and round-trips; untrusted, for
/// another name, or in plain text it fails at start, clearly, with nothing read or written.
/// </summary>
public sealed class TlsStoreTests : IDisposable
{
    private readonly ITestOutputHelper _output;
    private readonly string _directory = Directory.CreateTempSubdirectory("kvblockpool-tls-").FullName;
    private readonly X509Certificate2 _authority;
    private readonly X509Certificate2 _server;

    public TlsStoreTests(ITestOutputHelper output)
    {
        _output = output;
        (_authority, _server) = Certificates();
        File.WriteAllText(AuthorityPath, _authority.ExportCertificatePem());
    }

    private string AuthorityPath => Path.Combine(_directory, "ca.pem");

    [Fact]
    public async Task A_server_certificate_from_the_trusted_authority_connects_and_round_trips_a_chunk()
    {
        using EmbeddedGarnet server = EmbeddedGarnet.Start(tls: new ServerTls(_server));
        RedisKvChunkStoreOptions options = Options(server);
        options.TlsCaCertificatePath = AuthorityPath;

        await using RedisKvChunkStore store = await RedisKvChunkStore.ConnectAsync(options);

        KvBlockPool.Tier.KvTierKey key = RedisKvChunkStoreTests.Key(TestChunks.Small, 5);
        byte[] value = [.. Enumerable.Range(0, 4096).Select(i => (byte)i)];
        Assert.Equal(KvChunkStoreStatus.Ok, await store.PutAsync(key, value));
        var read = new System.Buffers.ArrayBufferWriter<byte>();
        Assert.Equal(KvChunkStoreStatus.Ok, await store.GetAsync(key, read));
        Assert.True(read.WrittenSpan.SequenceEqual(value));
    }

    [Theory]
    [InlineData("untrusted")]
    [InlineData("other name")]
    [InlineData("plain text")]
    public async Task A_connection_the_server_or_the_client_cannot_trust_fails_at_start_as_a_tls_failure(string what)
    {
        using EmbeddedGarnet server = EmbeddedGarnet.Start(tls: new ServerTls(_server));
        RedisKvChunkStoreOptions options = Options(server);
        // A refused handshake fails at once; the room is for a busy machine, where a connect that runs out of time is
        // reported as unreachable before the handshake's reason is seen.
        options.ConnectTimeout = TimeSpan.FromSeconds(what == "plain text" ? 2 : 10);
        switch (what)
        {
            case "other name":
                options.TlsCaCertificatePath = AuthorityPath;
                options.TlsHost = "cache.example";
                break;
            case "plain text":
                options.UseTls = false;
                options.TlsHost = null;
                break;
        }

        KvTierConnectionException error = await Assert.ThrowsAsync<KvTierConnectionException>(() => RedisKvChunkStore.ConnectAsync(options));

        _output.WriteLine($"{what}: {error.Message}");
        Assert.False(error.IsAuthenticationFailure, error.ToString());
        Assert.Equal(what != "plain text", error.IsTlsFailure);
        Assert.Contains(what == "plain text" ? "could not be reached" : "could not be trusted over TLS", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_bad_authority_file_is_refused_before_anything_connects()
    {
        var options = new RedisKvChunkStoreOptions { TlsCaCertificatePath = AuthorityPath };
        options.EndPoints.Add("127.0.0.1:1");
        Assert.Contains("TlsCaCertificatePath is set but UseTls is not", Assert.Throws<ArgumentException>(options.Validate).Message, StringComparison.Ordinal);

        options.UseTls = true;
        options.TlsCaCertificatePath = Path.Combine(_directory, "missing.pem");
        Assert.Contains("which is not a file", Assert.Throws<ArgumentException>(options.Validate).Message, StringComparison.Ordinal);

        string garbage = Path.Combine(_directory, "garbage.pem");
        File.WriteAllText(garbage, "not a certificate");
        options.TlsCaCertificatePath = garbage;
        Assert.Contains("holds no certificate that can be read", Assert.Throws<ArgumentException>(options.Validate).Message, StringComparison.Ordinal);

        options.TlsCaCertificatePath = AuthorityPath;
        options.Validate();
    }

    public void Dispose()
    {
        _authority.Dispose();
        _server.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    private static RedisKvChunkStoreOptions Options(EmbeddedGarnet server)
    {
        var options = new RedisKvChunkStoreOptions { Name = "tls", UseTls = true, TlsHost = "localhost" };
        options.EndPoints.Add(server.EndPoint);
        return options;
    }

    /// <summary>A private authority and a server certificate it issued for localhost and 127.0.0.1, valid for a day.</summary>
    private static (X509Certificate2 Authority, X509Certificate2 Server) Certificates()
    {
        DateTimeOffset now = DateTimeOffset.UtcNow;
        using ECDsa authorityKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var authorityRequest = new CertificateRequest("CN=KvBlockPool test authority", authorityKey, HashAlgorithmName.SHA256);
        authorityRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        authorityRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        X509Certificate2 authority = authorityRequest.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1));

        using ECDsa serverKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var serverRequest = new CertificateRequest("CN=localhost", serverKey, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        serverRequest.CertificateExtensions.Add(names.Build());
        serverRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        serverRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        using X509Certificate2 issued = serverRequest.Create(authority, now.AddMinutes(-5), now.AddHours(23), [1, 2, 3, 4]);
        using X509Certificate2 withKey = issued.CopyWithPrivateKey(serverKey);

        // Through PKCS#12, as a server would load it from a file: SslStream wants a key it can use for the handshake.
        X509Certificate2 server = X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), password: null);
        return (authority, server);
    }

    /// <summary>Garnet's TLS settings for a server that presents <paramref name="certificate"/> and asks no client certificate.</summary>
    private sealed class ServerTls(X509Certificate2 certificate) : IGarnetTlsOptions
    {
        public SslServerAuthenticationOptions TlsServerOptions { get; } = new() { ServerCertificate = certificate, ClientCertificateRequired = false };

        public SslClientAuthenticationOptions TlsClientOptions => null!;

        public bool UpdateCertFile(string certFileName, string certPassword, out string errorMessage)
        {
            errorMessage = "certificates are fixed in this test";
            return false;
        }
    }
}
