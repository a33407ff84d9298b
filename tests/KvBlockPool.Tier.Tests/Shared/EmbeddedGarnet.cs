using System.Net;
using Garnet;
using Garnet.server;
using Garnet.server.Auth.Settings;

namespace KvBlockPool.Tier.Tests.Shared;

/// <summary>
/// A real Garnet server in the test process, on the loopback address only, started by the options route with a
/// 16 MiB network receive buffer (the default 1 MiB makes SETs of a MiB or more ten times slower). Without a storage
/// tier Garnet is a cache: once its log memory is full it silently drops the oldest records. The default log holds far
/// more than any test writes; a test of an evicting server asks for a small one.
/// </summary>
internal sealed class EmbeddedGarnet : IDisposable
{
    /// <summary>The log memory by default: room for every chunk the tests write, so none is evicted under them.</summary>
    public const string DefaultLogMemorySize = "256m";

    /// <summary>The log's page size by default. Garnet wants a log of at least 4 pages, and pages of at least 4 KiB.</summary>
    public const string DefaultPageSize = "16m";

    private readonly GarnetServer _server;
    private int _disposed;

    private EmbeddedGarnet(int port, string? password, string logMemorySize, string pageSize)
    {
        Port = port;
        var options = new GarnetServerOptions(null)
        {
            EndPoints = [new IPEndPoint(IPAddress.Loopback, port)],
            LogMemorySize = logMemorySize,
            PageSize = pageSize,
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
    /// <param name="port">The port, or 0 for a free one.</param>
    /// <param name="password">The password clients must give, or null for none.</param>
    /// <param name="logMemorySize">
    /// The log's memory in Garnet's notation (<c>16k</c>, <c>256m</c>): what the server holds before it evicts the
    /// oldest records. At least 4 pages.
    /// </param>
    /// <param name="pageSize">The log's page size in the same notation; at least 4 KiB.</param>
    public static EmbeddedGarnet Start(int port = 0, string? password = null, string logMemorySize = DefaultLogMemorySize, string pageSize = DefaultPageSize) =>
        new(port == 0 ? LoopbackEndPoint.FreePort() : port, password, logMemorySize, pageSize);

    /// <summary>Stops the server and frees its port; idempotent (Garnet's own Dispose throws when repeated).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _server.Dispose();
        }
    }
}
