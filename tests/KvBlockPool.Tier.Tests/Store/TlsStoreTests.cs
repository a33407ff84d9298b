using System.Security.Cryptography.X509Certificates;
using KvBlockPool.Garnet;
using KvBlockPool.Redis;
using KvBlockPool.Testing;
using KvBlockPool.Tier.Tests.Shared;
using Xunit.Abstractions;

namespace KvBlockPool.Tier.Tests.Store;

/// <summary>
/// The store over TLS against an embedded Garnet server whose certificate a private authority issued (made here):
/// trusted through <see cref="RedisKvChunkStoreOptions.TlsCaCertificatePath"/> it connects and round-trips; untrusted,
/// for another name, or in plain text it fails at start, clearly, with nothing read or written.
/// </summary>
public sealed class TlsStoreTests(ITestOutputHelper output) : IDisposable
{
    private readonly TestCertificates _certificates = new();

    private string AuthorityPath => _certificates.AuthorityPath;

    [Fact]
    public async Task A_server_certificate_from_the_trusted_authority_connects_and_round_trips_a_chunk()
    {
        using EmbeddedGarnetServer server = EmbeddedGarnetServer.Start(new EmbeddedGarnetOptions { TlsCertificate = _certificates.Server });
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
        using EmbeddedGarnetServer server = EmbeddedGarnetServer.Start(new EmbeddedGarnetOptions { TlsCertificate = _certificates.Server });
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

        output.WriteLine($"{what}: {error.Message}");
        Assert.False(error.IsAuthenticationFailure, error.ToString());
        Assert.Equal(what != "plain text", error.IsTlsFailure);
        Assert.Contains(what == "plain text" ? "could not be reached" : "could not complete the TLS handshake", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_tls_client_against_a_plain_server_fails_at_start_and_says_to_check_that_the_server_speaks_tls()
    {
        using EmbeddedGarnetServer server = EmbeddedGarnetServer.Start();
        RedisKvChunkStoreOptions options = Options(server);
        options.ConnectTimeout = TimeSpan.FromSeconds(5); // the handshake waits for a reply that never comes, this long

        KvTierConnectionException error = await Assert.ThrowsAsync<KvTierConnectionException>(() => RedisKvChunkStore.ConnectAsync(options));

        output.WriteLine(error.Message);
        Assert.False(error.IsAuthenticationFailure, error.ToString());
        Assert.True(error.IsTlsFailure, error.ToString());
        Assert.Contains("Check that the server speaks TLS on this port", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_bad_authority_file_is_refused_before_anything_connects()
    {
        var options = new RedisKvChunkStoreOptions { TlsCaCertificatePath = AuthorityPath };
        options.EndPoints.Add("127.0.0.1:1");
        Assert.Contains("TlsCaCertificatePath is set but UseTls is not", Assert.Throws<ArgumentException>(options.Validate).Message, StringComparison.Ordinal);

        options.UseTls = true;
        options.TlsCaCertificatePath = _certificates.PathFor("missing.pem");
        Assert.Contains("which is not a file", Assert.Throws<ArgumentException>(options.Validate).Message, StringComparison.Ordinal);

        string garbage = _certificates.PathFor("garbage.pem");
        File.WriteAllText(garbage, "not a certificate");
        options.TlsCaCertificatePath = garbage;
        Assert.Contains("holds no certificate that can be read", Assert.Throws<ArgumentException>(options.Validate).Message, StringComparison.Ordinal);

        options.TlsCaCertificatePath = AuthorityPath;
        options.Validate();
    }

    [Fact]
    public void An_embedded_server_refuses_a_certificate_without_its_private_key()
    {
        // The server's certificate as a client sees it: the public part only.
        using X509Certificate2 publicOnly = X509CertificateLoader.LoadCertificate(_certificates.Server.RawData);
        var options = new EmbeddedGarnetOptions { TlsCertificate = publicOnly };

        ArgumentException refused = Assert.Throws<ArgumentException>(() => EmbeddedGarnetServer.Start(options));

        Assert.Equal("TlsCertificate", refused.ParamName);
        Assert.Contains("has no private key", refused.Message, StringComparison.Ordinal);
        Assert.EndsWith("TLS off", new EmbeddedGarnetOptions().ToString(), StringComparison.Ordinal);
        Assert.EndsWith("TLS on", options.ToString(), StringComparison.Ordinal);
    }

    public void Dispose() => _certificates.Dispose();

    private static RedisKvChunkStoreOptions Options(EmbeddedGarnetServer server)
    {
        var options = new RedisKvChunkStoreOptions { Name = "tls", UseTls = true, TlsHost = "localhost" };
        options.EndPoints.Add(server.EndPoint);
        return options;
    }
}
