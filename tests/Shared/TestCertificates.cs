using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace KvBlockPool.Testing;

/// <summary>
/// A private certificate authority and a server certificate it issued for <c>localhost</c> and 127.0.0.1, valid for a
/// day, made in the test: what a deployment's TLS tier looks like, without a file or the machine's trust store. The
/// authority's certificate is written to <see cref="AuthorityPath"/> (PEM) in a directory of its own, deleted on dispose.
/// </summary>
internal sealed class TestCertificates : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("kvblockpool-tls-").FullName;

    public TestCertificates()
    {
        DateTimeOffset now = DateTimeOffset.UtcNow;
        using ECDsa authorityKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var authorityRequest = new CertificateRequest("CN=KvBlockPool test authority", authorityKey, HashAlgorithmName.SHA256);
        authorityRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        authorityRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        Authority = authorityRequest.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1));
        File.WriteAllText(AuthorityPath, Authority.ExportCertificatePem());

        using ECDsa serverKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var serverRequest = new CertificateRequest("CN=localhost", serverKey, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        serverRequest.CertificateExtensions.Add(names.Build());
        serverRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        serverRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        using X509Certificate2 issued = serverRequest.Create(Authority, now.AddMinutes(-5), now.AddHours(23), [1, 2, 3, 4]);
        using X509Certificate2 withKey = issued.CopyWithPrivateKey(serverKey);

        // Through PKCS#12, as a server would load it from a file: SslStream wants a key it can use for the handshake.
        Server = X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), password: null);
    }

    /// <summary>The authority (certificate only, no key in any file).</summary>
    public X509Certificate2 Authority { get; }

    /// <summary>The server's certificate with its private key.</summary>
    public X509Certificate2 Server { get; }

    /// <summary>The authority's certificate as a PEM file.</summary>
    public string AuthorityPath => Path.Combine(_directory, "ca.pem");

    /// <summary>A path in this object's directory, for a test's own files.</summary>
    public string PathFor(string name) => Path.Combine(_directory, name);

    public void Dispose()
    {
        Authority.Dispose();
        Server.Dispose();
        Directory.Delete(_directory, recursive: true);
    }
}
