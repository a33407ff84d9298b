using System.Buffers.Binary;
using System.IO.Hashing;
using KvBlockPool.Prefix;
using KvBlockPool.Tier.Tests.Shared;

namespace KvBlockPool.Tier.Tests.Codec;

/// <summary>The value format of docs/tier-format.md: round trips for every preset, and every refusal with its reason.</summary>
public sealed class TierCodecTests
{
    [Theory]
    [MemberData(nameof(TestChunks.PresetNames), MemberType = typeof(TestChunks))]
    public void A_chunk_of_every_preset_round_trips_byte_for_byte(string preset)
    {
        KvCacheSpec spec = TestChunks.Preset(preset);
        var codec = new TierCodec(spec);
        byte[][] layers = TestChunks.Layers(spec, seed: 7);

        byte[] value = TestChunks.Encode(codec, TestChunks.Key, layers);
        byte[][] blocks = TestChunks.SentinelBlocks(spec);

        Assert.Equal(TierValueFormat.HeaderLengthFor(spec.Layers) + ((long)spec.Layers * spec.BytesPerBlock), value.Length);
        Assert.Equal(TierValueError.None, TestChunks.Restore(codec, value, TestChunks.Key, blocks, out _));
        for (int layer = 0; layer < spec.Layers; layer++)
        {
            Assert.True(layers[layer].AsSpan().SequenceEqual(blocks[layer]), $"layer {layer} differs");
        }
    }

    [Fact]
    public void A_llama3_8b_chunk_is_2_mib_of_blocks_behind_a_456_byte_header()
    {
        var codec = new TierCodec(KvCacheSpec.Llama3_8B());
        Assert.Equal(456, codec.HeaderLength); // 64 + 12 x 32 + 8
        Assert.Equal(456 + (2 * 1024 * 1024), codec.ValueLength);
    }

    [Fact]
    public void The_header_holds_each_field_where_docs_tier_format_md_says()
    {
        KvCacheSpec spec = TestChunks.Small;
        var codec = new TierCodec(spec);
        byte[][] layers = TestChunks.Layers(spec, seed: 1);
        byte[] value = TestChunks.Encode(codec, TestChunks.Key, layers, tokens: 3);
        int l = spec.Layers;

        Assert.Equal("KVCHUNK\0"u8.ToArray(), value[..8]);
        Assert.Equal(1, BinaryPrimitives.ReadUInt16LittleEndian(value.AsSpan(8)));
        Assert.Equal(0, BinaryPrimitives.ReadUInt16LittleEndian(value.AsSpan(10)));
        Assert.Equal(64 + (12 * l) + 8, (int)BinaryPrimitives.ReadUInt32LittleEndian(value.AsSpan(12)));
        Assert.Equal((uint)spec.Layers, BinaryPrimitives.ReadUInt32LittleEndian(value.AsSpan(16)));
        Assert.Equal((uint)spec.KvHeads, BinaryPrimitives.ReadUInt32LittleEndian(value.AsSpan(20)));
        Assert.Equal((uint)spec.HeadDim, BinaryPrimitives.ReadUInt32LittleEndian(value.AsSpan(24)));
        Assert.Equal((uint)spec.TokensPerBlock, BinaryPrimitives.ReadUInt32LittleEndian(value.AsSpan(28)));
        Assert.Equal((byte)spec.ElementType, value[32]);
        Assert.Equal((byte)spec.Layout, value[33]);
        Assert.Equal((uint)spec.BytesPerBlock, BinaryPrimitives.ReadUInt32LittleEndian(value.AsSpan(36)));
        Assert.Equal(TestChunks.Key, KvChunkKey.Read(value.AsSpan(40)));
        Assert.Equal(3u, BinaryPrimitives.ReadUInt32LittleEndian(value.AsSpan(56)));
        Assert.Equal((uint)l, BinaryPrimitives.ReadUInt32LittleEndian(value.AsSpan(60)));
        int header = 64 + (12 * l) + 8;
        for (int layer = 0; layer < l; layer++)
        {
            Assert.Equal((uint)spec.BytesPerBlock, BinaryPrimitives.ReadUInt32LittleEndian(value.AsSpan(64 + (4 * layer))));
            Assert.Equal(XxHash3.HashToUInt64(layers[layer]), BinaryPrimitives.ReadUInt64LittleEndian(value.AsSpan(64 + (4 * l) + (8 * layer))));
            Assert.Equal(layers[layer], value.AsSpan(header + (layer * spec.BytesPerBlock), spec.BytesPerBlock).ToArray());
        }

        Assert.Equal(XxHash3.HashToUInt64(value.AsSpan(0, header - 8)), BinaryPrimitives.ReadUInt64LittleEndian(value.AsSpan(header - 8)));
    }

    [Fact]
    public void A_payload_written_whole_in_place_encodes_the_same_value_as_layer_by_layer()
    {
        KvCacheSpec spec = TestChunks.Small;
        var codec = new TierCodec(spec);
        byte[][] layers = TestChunks.Layers(spec, seed: 3);
        var value = new byte[codec.ValueLength];
        TierValueWriter writer = codec.BeginWrite(value, TestChunks.Key, spec.TokensPerBlock);
        for (int layer = 0; layer < spec.Layers; layer++)
        {
            layers[layer].CopyTo(writer.Payload[(layer * spec.BytesPerBlock)..]); // as KvPrefixCache.TryCopyChunk lays a chunk out
        }

        writer.PayloadWritten();
        writer.Complete();

        Assert.Equal(TestChunks.Encode(codec, TestChunks.Key, layers), value);
    }

    [Fact]
    public void An_incomplete_or_misfit_write_is_refused()
    {
        KvCacheSpec spec = TestChunks.Small;
        var codec = new TierCodec(spec);
        var value = new byte[codec.ValueLength];
        Assert.Throws<ArgumentException>(() => codec.BeginWrite(new byte[codec.ValueLength - 1], TestChunks.Key, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => codec.BeginWrite(value, TestChunks.Key, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => codec.BeginWrite(value, TestChunks.Key, spec.TokensPerBlock + 1));
        Assert.Throws<ArgumentException>(() => codec.BeginWrite(value, default, 4));
        Assert.Throws<ArgumentException>(() =>
        {
            TierValueWriter writer = codec.BeginWrite(value, TestChunks.Key, 4);
            writer.WriteLayer(new byte[spec.BytesPerBlock - 1]);
        });
        Assert.Throws<InvalidOperationException>(() =>
        {
            TierValueWriter writer = codec.BeginWrite(value, TestChunks.Key, 4);
            writer.WriteLayer(new byte[spec.BytesPerBlock]);
            writer.Complete();
        });
    }

    [Fact]
    public void An_empty_value_is_refused_as_empty() => AssertRefused(TierValueError.Empty, []);

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(63)]
    [InlineData(100)] // inside the header
    [InlineData(200)] // inside the first layer
    public void A_truncated_value_is_refused_as_truncated(int length)
    {
        byte[] value = SmallValue();
        AssertRefused(TierValueError.Truncated, value[..length]);
    }

    [Fact]
    public void A_value_missing_its_last_byte_or_carrying_one_more_is_refused()
    {
        byte[] value = SmallValue();
        AssertRefused(TierValueError.Truncated, value[..^1]);
        AssertRefused(TierValueError.TrailingData, [.. value, 0]);
    }

    [Fact]
    public void Something_else_than_a_tier_value_is_refused_as_bad_magic()
    {
        AssertRefused(TierValueError.BadMagic, "hello, world: not a chunk"u8.ToArray());
        AssertRefused(TierValueError.BadMagic, "KVCACHE\0 a saved cache, not a chunk"u8.ToArray());
    }

    [Fact]
    public void Every_bit_flip_in_the_header_is_refused_and_writes_nothing()
    {
        KvCacheSpec spec = TestChunks.Small;
        var codec = new TierCodec(spec);
        byte[] value = SmallValue();
        for (int offset = 0; offset < codec.HeaderLength; offset++)
        {
            for (int bit = 0; bit < 8; bit += 3)
            {
                byte[] flipped = (byte[])value.Clone();
                flipped[offset] ^= (byte)(1 << bit);
                byte[][] blocks = TestChunks.SentinelBlocks(spec);
                TierValueError error = TestChunks.Restore(codec, flipped, TestChunks.Key, blocks, out _);

                TierValueError expected = offset switch
                {
                    < 8 => TierValueError.BadMagic,
                    < 10 => TierValueError.UnsupportedVersion,
                    >= 12 and < 16 => error, // the length field: impossible, truncated or failing the checksum, each refused
                    _ => TierValueError.HeaderChecksumMismatch, // read before any field it covers is trusted
                };
                Assert.NotEqual(TierValueError.None, error);
                Assert.Equal(expected, error);
                Assert.True(TestChunks.AllSentinel(blocks), $"a flip at {offset} wrote into a block");
            }
        }
    }

    [Fact]
    public void A_bit_flip_in_each_layer_is_refused_naming_that_layer_and_writes_nothing()
    {
        KvCacheSpec spec = TestChunks.Small;
        var codec = new TierCodec(spec);
        byte[] value = SmallValue();
        for (int layer = 0; layer < spec.Layers; layer++)
        {
            foreach (int at in new[] { 0, spec.BytesPerBlock / 2, spec.BytesPerBlock - 1 })
            {
                byte[] flipped = (byte[])value.Clone();
                flipped[codec.HeaderLength + (layer * spec.BytesPerBlock) + at] ^= 0x10;
                byte[][] blocks = TestChunks.SentinelBlocks(spec);

                Assert.Equal(TierValueError.LayerChecksumMismatch, TestChunks.Restore(codec, flipped, TestChunks.Key, blocks, out int failed));
                Assert.Equal(layer, failed);
                Assert.True(TestChunks.AllSentinel(blocks), $"a flip in layer {layer} wrote into a block");
            }
        }
    }

    [Fact]
    public void The_last_layer_failing_leaves_the_earlier_layers_blocks_untouched_too()
    {
        // Validate-first: even layers whose checksums passed are not copied before the whole value passed.
        KvCacheSpec spec = KvCacheSpec.Llama3_8B();
        var codec = new TierCodec(spec);
        byte[] value = TestChunks.Encode(codec, TestChunks.Key, TestChunks.Layers(spec, 11));
        value[^1] ^= 1;
        byte[][] blocks = TestChunks.SentinelBlocks(spec);

        Assert.Equal(TierValueError.LayerChecksumMismatch, TestChunks.Restore(codec, value, TestChunks.Key, blocks, out int failed));
        Assert.Equal(spec.Layers - 1, failed);
        Assert.True(TestChunks.AllSentinel(blocks));
    }

    [Fact]
    public void A_value_of_another_spec_is_refused_as_a_spec_mismatch()
    {
        KvCacheSpec spec = TestChunks.Small;
        var codec = new TierCodec(spec);
        foreach (KvCacheSpec other in new[]
        {
            new KvCacheSpec(4, 2, 8, 4, KvElementType.BFloat16),                       // same sizes, another element type
            spec.WithLayout(KvBlockLayout.TokenMajor),                                  // same sizes, another layout
            new KvCacheSpec(5, 2, 8, 4, KvElementType.Float16),                         // another layer count
            new KvCacheSpec(4, 4, 4, 4, KvElementType.Float16),                         // same block size, other heads
        })
        {
            byte[] foreign = TestChunks.Encode(new TierCodec(other), TestChunks.Key, TestChunks.Layers(other, 2));
            byte[][] blocks = TestChunks.SentinelBlocks(spec);
            Assert.Equal(TierValueError.SpecMismatch, TestChunks.Restore(codec, foreign, TestChunks.Key, blocks, out _));
            Assert.True(TestChunks.AllSentinel(blocks));
        }
    }

    [Fact]
    public void A_value_of_another_chunk_is_refused_as_a_chunk_key_mismatch()
    {
        AssertRefused(TierValueError.ChunkKeyMismatch, SmallValue(), new KvChunkKey(TestChunks.Key.High, TestChunks.Key.Low ^ 1));
    }

    [Fact]
    public void A_value_of_another_version_is_refused_even_with_a_valid_checksum()
    {
        byte[] value = SmallValue();
        BinaryPrimitives.WriteUInt16LittleEndian(value.AsSpan(8), 2);
        Reseal(value);
        AssertRefused(TierValueError.UnsupportedVersion, value);
    }

    [Fact]
    public void A_consistently_checksummed_header_with_impossible_fields_is_refused_as_invalid()
    {
        KvCacheSpec spec = TestChunks.Small;
        foreach (Action<byte[]> corrupt in new Action<byte[]>[]
        {
            v => BinaryPrimitives.WriteUInt32LittleEndian(v.AsSpan(56), 0),                                 // no tokens
            v => BinaryPrimitives.WriteUInt32LittleEndian(v.AsSpan(56), (uint)spec.TokensPerBlock + 1),     // more than a block holds
            v => BinaryPrimitives.WriteUInt32LittleEndian(v.AsSpan(60), 3),                                 // layer count against the fingerprint
            v => BinaryPrimitives.WriteUInt32LittleEndian(v.AsSpan(64), (uint)spec.BytesPerBlock - 2),      // a layer's length
            v => BinaryPrimitives.WriteUInt16LittleEndian(v.AsSpan(10), 1),                                 // reserved
        })
        {
            byte[] value = SmallValue();
            corrupt(value);
            Reseal(value);
            AssertRefused(TierValueError.InvalidHeader, value);
        }
    }

    [Fact]
    public void A_spec_whose_chunk_exceeds_a_value_is_refused_when_the_codec_is_made()
    {
        var huge = new KvCacheSpec(4096, 4096, 128, 1, KvElementType.Float32); // 4 MiB blocks x 4096 layers
        Assert.Throws<ArgumentException>(() => new TierCodec(huge));
    }

    private static byte[] SmallValue() => TestChunks.Encode(new TierCodec(TestChunks.Small), TestChunks.Key, TestChunks.Layers(TestChunks.Small, 5));

    private static void Reseal(byte[] value)
    {
        int header = TierValueFormat.HeaderLengthFor(TestChunks.Small.Layers);
        BinaryPrimitives.WriteUInt64LittleEndian(value.AsSpan(header - 8), XxHash3.HashToUInt64(value.AsSpan(0, header - 8)));
    }

    private static void AssertRefused(TierValueError expected, byte[] value, KvChunkKey? key = null)
    {
        KvCacheSpec spec = TestChunks.Small;
        byte[][] blocks = TestChunks.SentinelBlocks(spec);
        Assert.Equal(expected, TestChunks.Restore(new TierCodec(spec), value, key ?? TestChunks.Key, blocks, out _));
        Assert.True(TestChunks.AllSentinel(blocks));
    }
}
