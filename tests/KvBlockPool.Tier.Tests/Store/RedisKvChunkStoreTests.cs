using System.Buffers;
using System.Diagnostics;
using KvBlockPool.Prefix;
using KvBlockPool.Redis;
using KvBlockPool.Testing;
using KvBlockPool.Tier.Tests.Shared;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace KvBlockPool.Tier.Tests.Store;

/// <summary>The store against a real Garnet (the collection's server): round trips, misses, and the metrics they leave.</summary>
[Collection(GarnetCollection.Name)]
[Trait(GarnetCollection.TraitName, GarnetCollection.TraitValue)]
public sealed class RedisKvChunkStoreTests(GarnetFixture garnet, ITestOutputHelper output)
{
    [Theory]
    [MemberData(nameof(TestChunks.PresetNames), MemberType = typeof(TestChunks))]
    public async Task A_chunk_of_every_preset_round_trips_through_garnet_into_fresh_blocks(string preset)
    {
        KvCacheSpec spec = TestChunks.Preset(preset);
        var codec = new TierCodec(spec);
        await using RedisKvChunkStore store = await RedisKvChunkStore.ConnectAsync(garnet.Options("preset-" + preset));
        KvTierKey key = Key(spec, 1);
        byte[][] layers = TestChunks.Layers(spec, seed: 42);

        Assert.Equal(KvChunkStoreStatus.Ok, await store.PutAsync(key, TestChunks.Encode(codec, key.Chunk, layers)));
        var buffer = new ArrayBufferWriter<byte>();
        Assert.Equal(KvChunkStoreStatus.Ok, await store.GetAsync(key, buffer));
        byte[][] blocks = TestChunks.SentinelBlocks(spec);

        Assert.Equal(TierValueError.None, TestChunks.Restore(codec, buffer.WrittenSpan, key.Chunk, blocks, out _));
        for (int layer = 0; layer < spec.Layers; layer++)
        {
            Assert.True(layers[layer].AsSpan().SequenceEqual(blocks[layer]), $"layer {layer} differs");
        }
    }

    [Fact]
    public async Task A_2_mib_chunk_round_trips_in_a_few_milliseconds_into_a_reused_buffer()
    {
        KvCacheSpec spec = KvCacheSpec.Llama3_8B();
        var codec = new TierCodec(spec);
        await using RedisKvChunkStore store = await RedisKvChunkStore.ConnectAsync(garnet.Options("llama-2mib"));
        byte[][] layers = TestChunks.Layers(spec, seed: 3);
        byte[][] blocks = TestChunks.SentinelBlocks(spec);
        var encoded = new ArrayBufferWriter<byte>(codec.ValueLength);
        var read = new ArrayBufferWriter<byte>(codec.ValueLength);
        const int Rounds = 20;
        TimeSpan put = TimeSpan.Zero, get = TimeSpan.Zero;
        for (int round = -3; round < Rounds; round++) // three rounds of warm-up
        {
            KvTierKey key = Key(spec, (ulong)(100 + round));
            long start = Stopwatch.GetTimestamp();
            encoded.ResetWrittenCount();
            TierValueWriter writer = codec.BeginWrite(encoded, key.Chunk, spec.TokensPerBlock);
            foreach (byte[] layer in layers)
            {
                writer.WriteLayer(layer);
            }

            writer.Complete();
            Assert.Equal(KvChunkStoreStatus.Ok, await store.PutAsync(key, encoded.WrittenMemory));
            long stored = Stopwatch.GetTimestamp();
            read.ResetWrittenCount();
            Assert.Equal(KvChunkStoreStatus.Ok, await store.GetAsync(key, read));
            Assert.Equal(TierValueError.None, TestChunks.Restore(codec, read.WrittenSpan, key.Chunk, blocks, out _));
            if (round >= 0)
            {
                put += Stopwatch.GetElapsedTime(start, stored);
                get += Stopwatch.GetElapsedTime(stored);
            }
        }

        double mib = codec.ValueLength / 1048576.0;
        output.WriteLine($"2 MiB chunk (Llama-3-8B, 32 layers), mean of {Rounds}: encode+put {put.TotalMilliseconds / Rounds:F2} ms, get+verify+copy {get.TotalMilliseconds / Rounds:F2} ms ({mib * Rounds / get.TotalSeconds / 1024:F2} GiB/s)");
        Assert.True(layers[31].AsSpan().SequenceEqual(blocks[31]));
        Assert.True(get.TotalMilliseconds / Rounds < 250, "a restore of 2 MiB over loopback should take milliseconds");
    }

    [Fact]
    public async Task A_missing_key_is_a_miss_that_writes_nothing()
    {
        await using RedisKvChunkStore store = await RedisKvChunkStore.ConnectAsync(garnet.Options("missing"));
        var buffer = new ArrayBufferWriter<byte>();
        KvTierKey key = Key(TestChunks.Small, 77);

        Assert.Equal(KvChunkStoreStatus.NotFound, await store.GetAsync(key, buffer));
        Assert.Equal(0, buffer.WrittenCount);
        Assert.Equal(KvChunkStoreStatus.NotFound, await store.ExistsAsync(key));
        Assert.Equal(KvChunkStoreStatus.NotFound, await store.DeleteAsync(key));
    }

    [Fact]
    public async Task Exists_and_delete_see_a_stored_value_and_a_corrupt_value_is_gone_once_deleted()
    {
        await using RedisKvChunkStore store = await RedisKvChunkStore.ConnectAsync(garnet.Options("exists"));
        var codec = new TierCodec(TestChunks.Small);
        KvTierKey key = Key(TestChunks.Small, 5);
        byte[] value = TestChunks.Encode(codec, key.Chunk, TestChunks.Layers(TestChunks.Small, 1));
        value[^1] ^= 0xFF; // stored corrupt: what a reader finds and removes

        Assert.Equal(KvChunkStoreStatus.Ok, await store.PutAsync(key, value));
        Assert.Equal(KvChunkStoreStatus.Ok, await store.ExistsAsync(key));
        var buffer = new ArrayBufferWriter<byte>();
        Assert.Equal(KvChunkStoreStatus.Ok, await store.GetAsync(key, buffer));
        Assert.Equal(TierValueError.LayerChecksumMismatch, codec.TryRead(buffer.WrittenSpan, key.Chunk, out _, out _));
        Assert.Equal(KvChunkStoreStatus.Ok, await store.DeleteAsync(key));
        Assert.Equal(KvChunkStoreStatus.NotFound, await store.ExistsAsync(key));
    }

    [Fact]
    public async Task Keys_carry_the_prefix_and_the_tier_key_and_a_time_to_live_when_asked()
    {
        RedisKvChunkStoreOptions options = garnet.Options("ttl", o => o.TimeToLive = TimeSpan.FromMinutes(5));
        await using RedisKvChunkStore store = await RedisKvChunkStore.ConnectAsync(options);
        KvTierKey key = Key(TestChunks.Small, 9);
        Assert.Equal(KvChunkStoreStatus.Ok, await store.PutAsync(key, new byte[] { 1, 2, 3 }));

        await using ConnectionMultiplexer raw = await ConnectionMultiplexer.ConnectAsync(garnet.EndPoint);
        string name = options.KeyPrefix + key;
        Assert.Equal(new byte[] { 1, 2, 3 }, (byte[]?)await raw.GetDatabase().StringGetAsync(name));
        TimeSpan? ttl = await raw.GetDatabase().KeyTimeToLiveAsync(name);
        Assert.NotNull(ttl);
        Assert.InRange(ttl.Value, TimeSpan.FromMinutes(4), TimeSpan.FromMinutes(5));
    }

    [Fact]
    public async Task Reads_of_several_chunks_are_pipelined_and_each_lands_in_its_own_buffer()
    {
        KvCacheSpec spec = KvCacheSpec.TinyLlama_1_1B();
        var codec = new TierCodec(spec);
        await using RedisKvChunkStore store = await RedisKvChunkStore.ConnectAsync(garnet.Options("pipelined"));
        KvTierKey[] keys = Enumerable.Range(1, 8).Select(i => Key(spec, (ulong)i)).ToArray();
        byte[][][] chunks = keys.Select((k, i) => TestChunks.Layers(spec, i)).ToArray();
        await Task.WhenAll(keys.Select((k, i) => store.PutAsync(k, TestChunks.Encode(codec, k.Chunk, chunks[i])).AsTask()));

        ArrayBufferWriter<byte>[] buffers = keys.Select(_ => new ArrayBufferWriter<byte>()).ToArray();
        KvChunkStoreStatus[] results = await Task.WhenAll(keys.Select((k, i) => store.GetAsync(k, buffers[i]).AsTask()));

        Assert.All(results, r => Assert.Equal(KvChunkStoreStatus.Ok, r));
        for (int i = 0; i < keys.Length; i++)
        {
            Assert.Equal(TierValueError.None, codec.TryRead(buffers[i].WrittenSpan, keys[i].Chunk, out TierValueReader reader, out _));
            Assert.True(chunks[i][0].AsSpan().SequenceEqual(reader.GetLayer(0)));
        }
    }

    [Fact]
    public async Task A_value_larger_than_the_limit_is_a_miss_both_ways()
    {
        await using RedisKvChunkStore store = await RedisKvChunkStore.ConnectAsync(garnet.Options("limit", o => o.MaxValueBytes = 1024));
        KvTierKey key = Key(TestChunks.Small, 3);
        Assert.Equal(KvChunkStoreStatus.TooLarge, await store.PutAsync(key, new byte[1025]));
        await using RedisKvChunkStore unlimited = await RedisKvChunkStore.ConnectAsync(garnet.Options("limit"));
        Assert.Equal(KvChunkStoreStatus.Ok, await unlimited.PutAsync(key, new byte[2048]));

        var buffer = new ArrayBufferWriter<byte>();
        Assert.Equal(KvChunkStoreStatus.TooLarge, await store.GetAsync(key, buffer));
        Assert.Equal(0, buffer.WrittenCount);
    }

    [Fact]
    public async Task A_deadline_shorter_than_the_read_is_a_miss_and_the_late_value_never_reaches_the_buffer()
    {
        byte[] big = new byte[64 * 1024 * 1024];
        Random.Shared.NextBytes(big.AsSpan(0, 4096));
        KvTierKey key = Key(TestChunks.Small, 64);
        await using (RedisKvChunkStore writer = await RedisKvChunkStore.ConnectAsync(garnet.Options("slow", o => o.OperationTimeout = TimeSpan.FromSeconds(10))))
        {
            Assert.Equal(KvChunkStoreStatus.Ok, await writer.PutAsync(key, big));
        }

        // The store's own timeout.
        await using RedisKvChunkStore store = await RedisKvChunkStore.ConnectAsync(garnet.Options("slow", o => o.OperationTimeout = TimeSpan.FromMilliseconds(1)));
        var buffer = new ArrayBufferWriter<byte>();
        var watch = Stopwatch.StartNew();
        Assert.Equal(KvChunkStoreStatus.TimedOut, await store.GetAsync(key, buffer));
        // Far below the 10 s a patient read of these 64 MiB may take on a busy machine, yet not a tight bound: on two
        // cores the embedded server sending 64 MiB can hold the thread pool, and the 1 ms timer fires late.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"the timed-out read took {watch.ElapsedMilliseconds} ms");

        // The caller's deadline.
        await using RedisKvChunkStore patient = await RedisKvChunkStore.ConnectAsync(garnet.Options("slow", o => o.OperationTimeout = TimeSpan.FromSeconds(10)));
        using var deadline = new CancellationTokenSource(TimeSpan.FromMilliseconds(1));
        var second = new ArrayBufferWriter<byte>();
        Assert.Equal(KvChunkStoreStatus.Canceled, await patient.GetAsync(key, second, deadline.Token));

        await Task.Delay(500); // the abandoned reads complete meanwhile
        Assert.Equal(0, buffer.WrittenCount);
        Assert.Equal(0, second.WrittenCount);
        Assert.Equal(KvChunkStoreStatus.Ok, await patient.GetAsync(key, second)); // the connection is still good
        Assert.Equal(big.Length, second.WrittenCount);
    }

    [Fact]
    public async Task A_cancelled_call_does_nothing_and_says_so()
    {
        await using RedisKvChunkStore store = await RedisKvChunkStore.ConnectAsync(garnet.Options("cancelled"));
        KvTierKey key = Key(TestChunks.Small, 4);
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        Assert.Equal(KvChunkStoreStatus.Canceled, await store.PutAsync(key, new byte[] { 1 }, cancelled.Token));
        Assert.Equal(KvChunkStoreStatus.Canceled, await store.ExistsAsync(key, cancelled.Token));
        Assert.Equal(KvChunkStoreStatus.Canceled, await store.DeleteAsync(key, cancelled.Token));
        Assert.Equal(KvChunkStoreStatus.Canceled, await store.GetAsync(key, new ArrayBufferWriter<byte>(), cancelled.Token));
        Assert.Equal(KvChunkStoreStatus.NotFound, await store.ExistsAsync(key)); // the put never happened
    }

    [Fact]
    public async Task Every_call_is_recorded_in_the_tier_instruments()
    {
        const string Name = "metered";
        using var meters = new ScopedMeterFactory();
        using var gets = new MetricCollector<long>(meters, "KvBlockPool", "kvblockpool.tier.gets");
        using var hits = new MetricCollector<long>(meters, "KvBlockPool", "kvblockpool.tier.hits");
        using var misses = new MetricCollector<long>(meters, "KvBlockPool", "kvblockpool.tier.misses");
        using var puts = new MetricCollector<long>(meters, "KvBlockPool", "kvblockpool.tier.puts");
        using var read = new MetricCollector<long>(meters, "KvBlockPool", "kvblockpool.tier.read.bytes");
        using var written = new MetricCollector<long>(meters, "KvBlockPool", "kvblockpool.tier.written.bytes");
        using var errors = new MetricCollector<long>(meters, "KvBlockPool", "kvblockpool.tier.errors");
        using var duration = new MetricCollector<double>(meters, "KvBlockPool", "kvblockpool.tier.duration");
        await using RedisKvChunkStore store = await RedisKvChunkStore.ConnectAsync(garnet.Options(Name, o =>
        {
            o.MaxValueBytes = 100;
            o.MeterFactory = meters;
        }));
        KvTierKey key = Key(TestChunks.Small, 8);

        await store.PutAsync(key, new byte[60]);
        await store.PutAsync(key, new byte[101]); // too large: an error, not a put
        await store.GetAsync(key, new ArrayBufferWriter<byte>());
        await store.GetAsync(Key(TestChunks.Small, 9), new ArrayBufferWriter<byte>());
        await store.ExistsAsync(key);

        Assert.Equal(2, Sum(gets, Name));
        Assert.Equal(1, Sum(hits, Name));
        Assert.Equal(1, Sum(misses, Name, "not_found"));
        Assert.Equal(1, Sum(puts, Name));
        Assert.Equal(60, Sum(read, Name));
        Assert.Equal(60, Sum(written, Name));
        Assert.Equal(1, Sum(errors, Name, "too_large"));
        Assert.Equal(5, duration.GetMeasurementSnapshot().Count(m => Tagged(m.Tags, Name)));
        Assert.All(duration.GetMeasurementSnapshot().Where(m => Tagged(m.Tags, Name)), m => Assert.InRange(m.Value, 0, 5));
    }

    [Theory]
    [InlineData("127.0.0.1:6379", true)]
    [InlineData("cache.example:65535", true)]
    [InlineData("[::1]:1", true)]
    [InlineData("localhost", false)]
    [InlineData("127.0.0.1:0", false)]
    [InlineData("127.0.0.1:70000", false)]
    [InlineData(":6379", false)]
    [InlineData("::1:6379", false)]
    [InlineData("cache:6380,password=x", false)]
    [InlineData("redis://cache:6379", false)]
    [InlineData("", false)]
    [InlineData(null, false)]
    public void IsEndPoint_takes_exactly_what_the_options_take_as_an_endpoint(string? text, bool expected)
    {
        Assert.Equal(expected, RedisKvChunkStoreOptions.IsEndPoint(text));
        var options = new RedisKvChunkStoreOptions();
        options.EndPoints.Add(text!);
        if (expected)
        {
            options.Validate();
        }
        else
        {
            Assert.Throws<ArgumentException>(options.Validate);
        }
    }

    [Fact]
    public async Task Invalid_options_are_refused_before_anything_connects()
    {
        var bad = new List<Action<RedisKvChunkStoreOptions>>
        {
            o => o.EndPoints.Clear(),
            o => o.EndPoints.Add("not an endpoint:port"),
            o => o.ConnectTimeout = TimeSpan.Zero,
            o => o.OperationTimeout = TimeSpan.FromMilliseconds(-5),
            o => o.KeyPrefix = "has{brace}",
            o => o.KeyPrefix = "has space",
            o => o.KeyPrefix = new string('x', RedisKvChunkStoreOptions.MaxKeyPrefixLength + 1),
            o => o.TimeToLive = TimeSpan.Zero,
            o => o.MaxValueBytes = 0,
            o => o.Name = " ",
        };
        foreach (Action<RedisKvChunkStoreOptions> configure in bad)
        {
            await Assert.ThrowsAsync<ArgumentException>(() => RedisKvChunkStore.ConnectAsync(garnet.Options("bad", configure)));
        }

        await Assert.ThrowsAsync<ArgumentNullException>(() => RedisKvChunkStore.ConnectAsync(null!));
    }

    [Fact]
    public async Task A_disposed_store_refuses_calls_and_a_null_buffer_is_refused()
    {
        RedisKvChunkStore store = await RedisKvChunkStore.ConnectAsync(garnet.Options("disposed"));
        KvTierKey key = Key(TestChunks.Small, 1);
        await Assert.ThrowsAsync<ArgumentNullException>(async () => await store.GetAsync(key, null!));
        await store.DisposeAsync();
        store.Dispose(); // idempotent

        Assert.False(store.IsConnected);
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await store.GetAsync(key, new ArrayBufferWriter<byte>()));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await store.PutAsync(key, new byte[1]));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await store.ExistsAsync(key));
    }

    internal static KvTierKey Key(KvCacheSpec spec, ulong n) => new(KvTierKey.GetSpecFingerprint(spec), 0xabc, new KvChunkKey(0x5eed, n));

    private static long Sum(MetricCollector<long> collector, string tier, string? reason = null) =>
        collector.GetMeasurementSnapshot()
            .Where(m => Tagged(m.Tags, tier) && (reason is null || Equals(m.Tags["kvblockpool.tier.reason"], reason)))
            .Sum(m => m.Value);

    private static bool Tagged(IReadOnlyDictionary<string, object?> tags, string tier) => tags.TryGetValue("kvblockpool.tier.name", out object? name) && Equals(name, tier);
}
