using System.Net;
using System.Net.Sockets;
using KvBlockPool.Garnet;
using KvBlockPool.Redis;
using KvBlockPool.Tier.Tests.Shared;
using StackExchange.Redis;

namespace KvBlockPool.Tier.Tests.Store;

/// <summary>The in-process Garnet the command line and the sample host start when no tier end point is given.</summary>
public sealed class EmbeddedGarnetServerTests
{
    [Fact]
    public async Task By_default_it_listens_on_a_free_loopback_port_and_serves_the_tier()
    {
        using EmbeddedGarnetServer server = EmbeddedGarnetServer.Start();

        Assert.Equal(IPAddress.Loopback, server.Address);
        Assert.InRange(server.Port, 1, IPEndPoint.MaxPort);
        Assert.Equal($"127.0.0.1:{server.Port}", server.EndPoint);
        var options = new RedisKvChunkStoreOptions { Name = "embedded" };
        options.EndPoints.Add(server.EndPoint);
        await using RedisKvChunkStore store = await RedisKvChunkStore.ConnectAsync(options);
        KvTierKey key = RedisKvChunkStoreTests.Key(TestChunks.Small, 1);
        byte[] value = [.. Enumerable.Range(0, 3 * 1024 * 1024).Select(i => (byte)i)]; // a multi-MiB value, as a large model's chunk
        Assert.Equal(KvChunkStoreStatus.Ok, await store.PutAsync(key, value));
        var read = new System.Buffers.ArrayBufferWriter<byte>();
        Assert.Equal(KvChunkStoreStatus.Ok, await store.GetAsync(key, read));
        Assert.True(read.WrittenSpan.SequenceEqual(value));
    }

    [Fact]
    public async Task A_password_is_required_of_clients_and_never_shown()
    {
        const string Password = "embedded-secret-83";
        var settings = new EmbeddedGarnetOptions { Password = Password };
        using EmbeddedGarnetServer server = EmbeddedGarnetServer.Start(settings);

        Assert.DoesNotContain(Password, settings.ToString(), StringComparison.Ordinal);
        var options = new RedisKvChunkStoreOptions { ConnectTimeout = TimeSpan.FromSeconds(2) };
        options.EndPoints.Add(server.EndPoint);
        Assert.True((await Assert.ThrowsAsync<KvTierConnectionException>(() => RedisKvChunkStore.ConnectAsync(options))).IsAuthenticationFailure);
        options.Password = Password;
        await using RedisKvChunkStore store = await RedisKvChunkStore.ConnectAsync(options);
        Assert.True(store.IsConnected);
    }

    [Fact]
    public void Disposing_frees_the_port_and_is_idempotent()
    {
        EmbeddedGarnetServer server = EmbeddedGarnetServer.Start();
        int port = server.Port;
        server.Dispose();
        server.Dispose();

        using var listener = new TcpListener(IPAddress.Loopback, port);
        listener.Start(); // the port is free again
        listener.Stop();
    }

    [Fact]
    public void A_port_in_use_is_a_clear_failure()
    {
        using EmbeddedGarnetServer first = EmbeddedGarnetServer.Start();

        InvalidOperationException error = Assert.Throws<InvalidOperationException>(() => EmbeddedGarnetServer.Start(new EmbeddedGarnetOptions { Port = first.Port }));

        Assert.Contains($"Garnet could not start on 127.0.0.1:{first.Port}", error.Message, StringComparison.Ordinal);
        Assert.NotNull(error.InnerException);
    }

    [Theory]
    [InlineData(-1, 256, "x")]
    [InlineData(IPEndPoint.MaxPort + 1, 256, "x")]
    [InlineData(int.MaxValue, 256, "x")]
    [InlineData(0, EmbeddedGarnetOptions.MinMemoryMiB - 1, "x")]
    [InlineData(0, EmbeddedGarnetOptions.MaxMemoryMiB + 1, "x")]
    [InlineData(0, int.MinValue, "x")]
    [InlineData(0, 256, " ")]
    [InlineData(0, 256, "")]
    public void Options_out_of_range_are_refused_before_anything_starts(int port, int memoryMiB, string password)
    {
        var options = new EmbeddedGarnetOptions { Port = port, MemoryMiB = memoryMiB, Password = password };

        Assert.ThrowsAny<ArgumentException>(() => EmbeddedGarnetServer.Start(options));
    }

    [Fact]
    public void A_missing_bind_address_is_refused()
    {
        Assert.Throws<ArgumentNullException>(() => EmbeddedGarnetServer.Start(new EmbeddedGarnetOptions { BindAddress = null! }));
    }
}
