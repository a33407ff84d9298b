using System.Net;
using System.Net.Sockets;
using Garnet;
using Garnet.server;
using Garnet.server.Auth.Settings;

namespace KvBlockPool.Tier.Tests.Shared;

/// <summary>
/// A real Garnet server in the test process, on the loopback address only, started by the options route with a
/// 16 MiB network receive buffer (the default 1 MiB makes SETs of a MiB or more ten times slower). Without a storage
/// tier Garnet is a cache: enough for tests that hold a few chunks.
/// </summary>
internal sealed class EmbeddedGarnet : IDisposable
{
    private readonly GarnetServer _server;
    private int _disposed;

    private EmbeddedGarnet(int port, string? password)
    {
        Port = port;
        var options = new GarnetServerOptions(null)
        {
            EndPoints = [new IPEndPoint(IPAddress.Loopback, port)],
            LogMemorySize = "256m",
            PageSize = "16m",
            IndexMemorySize = "16m",
            QuietMode = true,
            NetworkReceiveBufferMaxSize = "16m",
        };
        if (password is not null)
        {
            options.AuthSettings = new PasswordAuthenticationSettings(password);
        }

        _server = new GarnetServer(options);
        _server.Start();
    }

    public int Port { get; }

    public string EndPoint => $"127.0.0.1:{Port}";

    /// <summary>Starts a server on <paramref name="port"/>, or on a free port when it is 0.</summary>
    public static EmbeddedGarnet Start(int port = 0, string? password = null) => new(port == 0 ? FreePort() : port, password);

    /// <summary>Stops the server and frees its port; idempotent (Garnet's own Dispose throws when repeated).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _server.Dispose();
        }
    }

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
