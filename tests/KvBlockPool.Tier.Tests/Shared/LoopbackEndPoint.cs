using System.Net;

namespace KvBlockPool.Tier.Tests.Shared;

/// <summary>
/// Reads the external server's <c>host:port</c> for the tests, accepting a loopback address only: the tests write and
/// delete keys, and must never be pointed at a server another machine (or another team) relies on.
/// </summary>
internal static class LoopbackEndPoint
{
    /// <summary>A loopback port nobody listens on now: the operating system's pick for a listener closed at once.</summary>
    public static int FreePort()
    {
        var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    /// <summary>The endpoint as the store takes it (<c>127.0.0.1:6379</c>, <c>[::1]:6379</c>).</summary>
    /// <param name="value">An IPv4 or IPv6 loopback address and a port.</param>
    /// <param name="source">Where the value came from, for the message.</param>
    /// <exception cref="ArgumentException">Anything else: a host name, another address, no port.</exception>
    public static string Parse(string value, string source)
    {
        string text = value.Trim();
        if (!IPEndPoint.TryParse(text, out IPEndPoint? endPoint) || endPoint.Port == 0)
        {
            throw new ArgumentException(
                $"{source} is '{value}', which is not an IP address and a port (host names are not taken, not even localhost): give a loopback address and the server's port, for example 127.0.0.1:6379 or [::1]:6379.",
                nameof(value));
        }

        if (!IPAddress.IsLoopback(endPoint.Address))
        {
            throw new ArgumentException(
                $"{source} is '{value}', which is not a loopback address: the tests write and delete keys, so they run only against a server on this machine (127.0.0.1 or ::1).",
                nameof(value));
        }

        return endPoint.ToString();
    }
}
