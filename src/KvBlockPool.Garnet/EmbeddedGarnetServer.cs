using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Garnet;
using Garnet.server;
using Garnet.server.Auth.Settings;

namespace KvBlockPool.Garnet;

/// <summary>
/// A real Garnet server (Microsoft's RESP store) running in this process, for a shared KV tier on one machine: connect
/// to <see cref="EndPoint"/> with KvBlockPool.Redis as to any Garnet, Redis or Valkey server, and hosts on the same
/// machine share it. Disposing it stops the server and frees its port; its values go with it.
/// </summary>
/// <remarks>
/// The server's network receive buffer is raised to 16 MiB: with Garnet's default of 1 MiB, writing a value of a MiB or
/// more (a chunk of a large model) is about ten times slower.
/// </remarks>
public sealed class EmbeddedGarnetServer : IDisposable
{
    // Garnet's pages and index: small enough to start in well under a second, large enough for multi-MiB values.
    private const string PageSize = "16m";
    private const string IndexSize = "16m";
    private const string ReceiveBufferSize = "16m";

    private readonly GarnetServer _server;
    private int _disposed;

    private EmbeddedGarnetServer(GarnetServer server, IPEndPoint endPoint)
    {
        _server = server;
        Address = endPoint.Address;
        Port = endPoint.Port;
    }

    /// <summary>The address the server listens on.</summary>
    public IPAddress Address { get; }

    /// <summary>The port the server listens on (the one chosen at start when the options asked for a free port).</summary>
    public int Port { get; }

    /// <summary>The server's end point as a client configuration takes it, for example <c>127.0.0.1:6379</c>.</summary>
    public string EndPoint => new IPEndPoint(Address, Port).ToString();

    /// <summary>Starts a server; it accepts connections when this returns.</summary>
    /// <param name="options">The address, port, password and memory; null for the defaults (loopback, a free port).</param>
    /// <returns>The running server.</returns>
    /// <exception cref="ArgumentException">An option is out of range; nothing was started.</exception>
    /// <exception cref="InvalidOperationException">The server could not start (for example, the port is taken).</exception>
    public static EmbeddedGarnetServer Start(EmbeddedGarnetOptions? options = null)
    {
        options ??= new EmbeddedGarnetOptions();
        options.Validate();
        var endPoint = new IPEndPoint(options.BindAddress, options.Port == 0 ? FreePort(options.BindAddress) : options.Port);
        var settings = new GarnetServerOptions(null)
        {
            EndPoints = [endPoint],
            LogMemorySize = options.MemoryMiB.ToString(CultureInfo.InvariantCulture) + "m",
            PageSize = PageSize,
            IndexMemorySize = IndexSize,
            QuietMode = true,
            NetworkReceiveBufferMaxSize = ReceiveBufferSize,
        };
        if (options.Password is not null)
        {
            settings.AuthSettings = new PasswordAuthenticationSettings(options.Password);
        }

        if (options.TlsCertificate is { } certificate)
        {
            settings.TlsOptions = new ServerTls(certificate);
        }

        GarnetServer? server = null;
        try
        {
            server = new GarnetServer(settings);
            server.Start();
            return new EmbeddedGarnetServer(server, endPoint);
        }
        catch (Exception error) when (error is not OutOfMemoryException)
        {
            server?.Dispose();
            throw new InvalidOperationException($"Garnet could not start on {endPoint}: {error.Message}", error);
        }
    }

    /// <summary>Stops the server and frees its port; idempotent (Garnet's own Dispose throws when repeated).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _server.Dispose();
        }
    }

    /// <summary>A port nobody listens on now: the operating system's pick for a listener that is closed at once.</summary>
    private static int FreePort(IPAddress address)
    {
        var listener = new TcpListener(address, 0);
        listener.Start();
        try
        {
            return ((IPEndPoint)listener.LocalEndpoint).Port;
        }
        finally
        {
            listener.Stop();
        }
    }
}
