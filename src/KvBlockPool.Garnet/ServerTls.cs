using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Garnet.server.TLS;

namespace KvBlockPool.Garnet;

/// <summary>
/// Garnet's TLS settings for an embedded server that presents one certificate and asks clients for none. Garnet's own
/// <c>GarnetTlsOptions</c> loads the certificate from a file by name and calls itself a sample; a certificate the host
/// already holds is handed over as it is.
/// </summary>
internal sealed class ServerTls(X509Certificate2 certificate) : IGarnetTlsOptions
{
    public SslServerAuthenticationOptions TlsServerOptions { get; } = new() { ServerCertificate = certificate, ClientCertificateRequired = false };

    // The client side is for a cluster's nodes talking to each other; an embedded server is never one.
    public SslClientAuthenticationOptions TlsClientOptions => null!;

    public bool UpdateCertFile(string certFileName, string certPassword, out string errorMessage)
    {
        errorMessage = "The embedded server's certificate is fixed when it starts; start a new server to change it.";
        return false;
    }
}
