using System.Buffers;
using System.Diagnostics;
using KvBlockPool.Redis;
using KvBlockPool.Tier.Tests.Shared;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace KvBlockPool.Tier.Tests.Store;

/// <summary>A store that refuses the credentials, and one that dies and comes back: each with a server of its own.</summary>
public sealed class StoreFailureTests(ITestOutputHelper output)
{
    private const string Password = "kv-tier-correct-horse";
    private const string WrongPassword = "kv-tier-WRONG-battery";

    [Fact]
    public async Task A_wrong_password_fails_clearly_at_start_and_nothing_is_read_or_written()
    {
        using EmbeddedGarnet server = EmbeddedGarnet.Start(password: Password);
        var logs = new FakeLogCollector();
        using var loggerFactory = new LoggerFactory([new FakeLoggerProvider(logs)]);
        var options = new RedisKvChunkStoreOptions { Name = "guarded", Password = WrongPassword, LoggerFactory = loggerFactory, ConnectTimeout = TimeSpan.FromSeconds(2) };
        options.EndPoints.Add(server.EndPoint);

        var watch = Stopwatch.StartNew();
        KvTierConnectionException error = await Assert.ThrowsAsync<KvTierConnectionException>(() => RedisKvChunkStore.ConnectAsync(options));

        Assert.True(error.IsAuthenticationFailure, error.ToString());
        Assert.Contains("refused the credentials", error.Message, StringComparison.Ordinal);
        // Usually milliseconds; on a busy machine the client sometimes only sees the refusal after its connect attempts
        // (three, each up to ConnectTimeout) have run out. Either way the start fails, as an authentication failure.
        Assert.True(watch.Elapsed < (3 * options.ConnectTimeout) + TimeSpan.FromSeconds(2), $"refused after {watch.Elapsed}");
        Assert.DoesNotContain(WrongPassword, error.ToString(), StringComparison.Ordinal); // the message and every inner exception
        Assert.DoesNotContain(WrongPassword, options.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(logs.GetSnapshot(), r => r.Message.Contains(WrongPassword, StringComparison.Ordinal) || (r.Exception?.ToString().Contains(WrongPassword, StringComparison.Ordinal) ?? false));
        Assert.Contains(logs.GetSnapshot(), r => r.Level == LogLevel.Error && r.Message.Contains("refused the credentials", StringComparison.Ordinal));

        output.WriteLine($"wrong password refused after {watch.Elapsed.TotalMilliseconds:F0} ms");
        options.Password = null; // no password at all: NOAUTH, also an authentication failure
        watch.Restart();
        Assert.True((await Assert.ThrowsAsync<KvTierConnectionException>(() => RedisKvChunkStore.ConnectAsync(options))).IsAuthenticationFailure);

        output.WriteLine($"no password refused after {watch.Elapsed.TotalMilliseconds:F0} ms");

        // The server holds nothing: no failed start read or wrote a key.
        await using ConnectionMultiplexer admin = await ConnectionMultiplexer.ConnectAsync($"{server.EndPoint},password={Password}");
        Assert.Equal(0, await admin.GetServer(admin.GetEndPoints()[0]).DatabaseSizeAsync());

        options.Password = Password; // and the right one works
        await using RedisKvChunkStore store = await RedisKvChunkStore.ConnectAsync(options);
        Assert.Equal(KvChunkStoreStatus.Ok, await store.PutAsync(RedisKvChunkStoreTests.Key(TestChunks.Small, 1), new byte[] { 7 }));
    }

    [Fact]
    public async Task An_unreachable_store_fails_at_start_as_unreachable()
    {
        using EmbeddedGarnet server = EmbeddedGarnet.Start();
        string endPoint = server.EndPoint;
        server.Dispose(); // the port is free now: nothing listens there

        var options = new RedisKvChunkStoreOptions { ConnectTimeout = TimeSpan.FromMilliseconds(500) };
        options.EndPoints.Add(endPoint);
        KvTierConnectionException error = await Assert.ThrowsAsync<KvTierConnectionException>(() => RedisKvChunkStore.ConnectAsync(options));
        Assert.False(error.IsAuthenticationFailure);
        Assert.Contains("could not be reached", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_server_that_dies_turns_calls_into_quick_misses_and_its_replacement_is_used_again()
    {
        var timeout = TimeSpan.FromSeconds(1);
        EmbeddedGarnet first = EmbeddedGarnet.Start(password: Password);
        int port = first.Port;
        var logs = new FakeLogCollector();
        using var loggerFactory = new LoggerFactory([new FakeLoggerProvider(logs)]);
        var options = new RedisKvChunkStoreOptions { Name = "phoenix", Password = Password, OperationTimeout = timeout, LoggerFactory = loggerFactory };
        options.EndPoints.Add(first.EndPoint);
        await using RedisKvChunkStore store = await RedisKvChunkStore.ConnectAsync(options);
        KvTierKey key = RedisKvChunkStoreTests.Key(TestChunks.Small, 2);
        byte[] value = new byte[256 * 1024];
        KvChunkStoreStatus stored = KvChunkStoreStatus.Failed;
        for (int attempt = 0; attempt < 3 && stored != KvChunkStoreStatus.Ok; attempt++)
        {
            stored = await store.PutAsync(key, value); // set-up on a busy machine: a cold first write may miss its second
        }

        Assert.Equal(KvChunkStoreStatus.Ok, stored);

        // Reads in flight while the server goes away, and reads after it.
        var buffers = Enumerable.Range(0, 16).Select(_ => new ArrayBufferWriter<byte>()).ToArray();
        Task<KvChunkStoreStatus>[] inFlight = buffers.Select(b => store.GetAsync(key, b).AsTask()).ToArray();
        first.Dispose();
        var watch = Stopwatch.StartNew();
        KvChunkStoreStatus[] during = await Task.WhenAll(inFlight);
        // The bounds below are the deadline plus a margin for a busy two-core machine, where a timer can fire seconds
        // late; what they catch is a call that waits on the dead server instead of ending at its deadline.
        Assert.True(watch.Elapsed < timeout + TimeSpan.FromSeconds(4), $"the in-flight reads ended after {watch.Elapsed}");
        Assert.All(during, s => Assert.True(s is KvChunkStoreStatus.Ok or KvChunkStoreStatus.Unavailable or KvChunkStoreStatus.TimedOut, s.ToString()));
        for (int i = 0; i < during.Length; i++)
        {
            Assert.Equal(during[i] == KvChunkStoreStatus.Ok ? value.Length : 0, buffers[i].WrittenCount); // a miss wrote nothing
        }

        for (int i = 0; i < 20; i++)
        {
            var buffer = new ArrayBufferWriter<byte>();
            long start = Stopwatch.GetTimestamp();
            KvChunkStoreStatus status = await store.GetAsync(key, buffer);
            TimeSpan took = Stopwatch.GetElapsedTime(start);
            Assert.True(status is KvChunkStoreStatus.Unavailable or KvChunkStoreStatus.TimedOut, $"call {i}: {status}");
            Assert.True(took < timeout + TimeSpan.FromSeconds(4), $"call {i} took {took}: the pool must never wait on a dead store beyond the deadline");
            Assert.Equal(0, buffer.WrittenCount);
            Assert.NotEqual(KvChunkStoreStatus.Ok, await store.PutAsync(key, value));
        }

        Assert.False(store.IsConnected);

        // A new server on the same port: the store reconnects by itself (the data died with the first server).
        using EmbeddedGarnet second = EmbeddedGarnet.Start(port, Password);
        var recovery = Stopwatch.StartNew();
        KvChunkStoreStatus put;
        do
        {
            await Task.Delay(100);
            put = await store.PutAsync(key, value);
        }
        while ((put != KvChunkStoreStatus.Ok || !store.IsConnected) && recovery.Elapsed < TimeSpan.FromSeconds(20)); // both connections, the reads' and the writes'

        Assert.Equal(KvChunkStoreStatus.Ok, put);
        var again = new ArrayBufferWriter<byte>();
        Assert.Equal(KvChunkStoreStatus.Ok, await store.GetAsync(key, again));
        Assert.Equal(value.Length, again.WrittenCount);
        Assert.True(store.IsConnected);
        Assert.Contains(logs.GetSnapshot(), r => r.Level == LogLevel.Warning && r.Message.Contains("lost its connection", StringComparison.Ordinal));
        Assert.DoesNotContain(logs.GetSnapshot(), r => r.Message.Contains(Password, StringComparison.Ordinal));
    }
}
