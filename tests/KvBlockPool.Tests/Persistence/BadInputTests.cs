using System.Buffers.Binary;
using KvBlockPool.Persistence;

namespace KvBlockPool.Tests.Persistence;

/// <summary>Every class of bad input gets its own clear exception, leaks no block and leaves every agent as it was.</summary>
public sealed class BadInputTests : IAsyncLifetime, IDisposable
{
    private static readonly AgentId Agent = new(7);
    private static readonly AgentId Bystander = new(500);

    private readonly BlockPool _source = TestPools.Create(capacity: 64, layers: 3);
    private readonly BlockPool _target = TestPools.Create(capacity: 32, layers: 3);
    private byte[] _file = [];

    public async Task InitializeAsync()
    {
        PersistenceKit.Fill(_source, Agent, seed: 11, 3, 2, 4);
        _file = await PersistenceKit.SaveAsync(_source, Agent, tokens: 15);

        // The target holds another agent whose blocks and bytes must survive every refused restore.
        PersistenceKit.Fill(_target, Bystander, seed: 12, 1, 2, 1);
    }

    public Task DisposeAsync() => Task.CompletedTask;

    public void Dispose()
    {
        _source.Dispose();
        _target.Dispose();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    [InlineData(55)]
    [InlineData(PersistenceKit.HeaderLength - 1)]
    [InlineData(PersistenceKit.HeaderLength)]
    [InlineData(PersistenceKit.HeaderLength + 300)]
    [InlineData(-9)]
    [InlineData(-1)]
    public async Task A_truncated_cache_is_refused_as_truncated(int length)
    {
        byte[] cut = _file[..(length >= 0 ? length : _file.Length + length)];
        KvCacheFormatException error = await PersistenceKit.AssertRefusedAsync<KvCacheFormatException>(_target, () => PersistenceKit.RestoreAsync(_target, cut));
        Assert.Equal(KvCacheFormatError.Truncated, error.Reason);
        Assert.Contains("truncated", error.Message, StringComparison.Ordinal);
        Assert.False(_target.ContainsAgent(Agent));
    }

    [Fact]
    public async Task A_flipped_bit_in_the_header_is_refused_by_the_header_checksum_before_anything_is_allocated()
    {
        byte[] bad = (byte[])_file.Clone();
        bad[44] ^= 0x10; // inside the agent id
        KvCacheFormatException error = await PersistenceKit.AssertRefusedAsync<KvCacheFormatException>(_target, () => PersistenceKit.RestoreAsync(_target, bad), beforeAllocating: true);
        Assert.Equal(KvCacheFormatError.HeaderChecksumMismatch, error.Reason);
    }

    [Theory]
    [InlineData(PersistenceKit.HeaderLength, "Layer 0")] // first byte of layer 0
    [InlineData(-9, "Layer 2")]                          // last payload byte of the last layer
    [InlineData(-3, "Layer 2")]                          // inside the last layer's checksum
    public async Task A_flipped_bit_in_a_layer_is_refused_by_its_checksum_and_every_block_is_returned(int at, string layer)
    {
        byte[] bad = (byte[])_file.Clone();
        bad[at >= 0 ? at : bad.Length + at] ^= 0x01;
        KvCacheFormatException error = await PersistenceKit.AssertRefusedAsync<KvCacheFormatException>(_target, () => PersistenceKit.RestoreAsync(_target, bad));
        Assert.Equal(KvCacheFormatError.LayerChecksumMismatch, error.Reason);
        Assert.Contains(layer, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Wrong_magic_is_refused_as_not_a_saved_cache()
    {
        byte[] bad = (byte[])_file.Clone();
        bad[0] = (byte)'X';
        KvCacheFormatException error = await PersistenceKit.AssertRefusedAsync<KvCacheFormatException>(_target, () => PersistenceKit.RestoreAsync(_target, bad), beforeAllocating: true);
        Assert.Equal(KvCacheFormatError.BadMagic, error.Reason);
        Assert.Contains("not a saved KV cache", error.Message, StringComparison.Ordinal);

        // Even a file shorter than the magic is recognised as the wrong kind, not as a truncated cache.
        error = await Assert.ThrowsAsync<KvCacheFormatException>(() => PersistenceKit.RestoreAsync(_target, "PK\u0003"u8.ToArray()));
        Assert.Equal(KvCacheFormatError.BadMagic, error.Reason);
    }

    [Fact]
    public async Task An_unknown_major_version_is_refused_with_both_versions_named()
    {
        byte[] bad = (byte[])_file.Clone();
        BinaryPrimitives.WriteUInt16LittleEndian(bad.AsSpan(8), 2);
        PersistenceKit.RehashHeader(bad);
        KvCacheFormatException error = await PersistenceKit.AssertRefusedAsync<KvCacheFormatException>(_target, () => PersistenceKit.RestoreAsync(_target, bad), beforeAllocating: true);
        Assert.Equal(KvCacheFormatError.UnsupportedVersion, error.Reason);
        Assert.Contains("version 2.2", error.Message, StringComparison.Ordinal);
        Assert.Contains("major version 1", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_newer_minor_version_with_extra_header_bytes_is_read()
    {
        // A 1.3 header carries 16 bytes after 1.2's token ids that this reader does not know, covered by the header checksum.
        byte[] file = [.. _file[..(PersistenceKit.HeaderLength - 8)], .. new byte[16], .. _file[(PersistenceKit.HeaderLength - 8)..]];
        BinaryPrimitives.WriteUInt16LittleEndian(file.AsSpan(10), 3);
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(12), PersistenceKit.HeaderLength + 16);
        PersistenceKit.RehashHeader(file);

        KvCacheHeader header = await PersistenceKit.RestoreAsync(_target, file);
        Assert.Equal(3, header.MinorVersion);
        PersistenceKit.AssertSameBytes(PersistenceKit.Snapshot(_source, Agent), PersistenceKit.Snapshot(_target, Agent));
    }

    [Fact]
    public async Task A_cache_saved_with_another_spec_is_refused_with_both_specs_in_the_message()
    {
        using BlockPool other = TestPools.Create(capacity: 64, spec: PersistenceKit.OtherSpec);
        KvCacheSpecMismatchException error = await PersistenceKit.AssertRefusedAsync<KvCacheSpecMismatchException>(other, () => PersistenceKit.RestoreAsync(other, _file), beforeAllocating: true);
        Assert.Equal(KvCacheFormatError.SpecMismatch, error.Reason);
        Assert.Equal(PersistenceKit.Spec, error.SavedSpec);
        Assert.Equal(PersistenceKit.OtherSpec, error.PoolSpec);
        Assert.Contains(PersistenceKit.Spec.ToString(), error.Message, StringComparison.Ordinal);
        Assert.Contains(PersistenceKit.OtherSpec.ToString(), error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(56, 3_000_000_000u)]       // billions of blocks on one layer
    [InlineData(60, 2_000_000_000u)]       // each layer plausible alone, the sum is not
    [InlineData(48, 1_000_000u)]           // more tokens than the blocks hold
    [InlineData(16, 1_000_000u)]           // a million layers: refused before the block table is even read
    public async Task Absurd_counts_are_refused_before_anything_is_allocated(int offset, uint value)
    {
        byte[] bad = (byte[])_file.Clone();
        if (offset == 60)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(bad.AsSpan(56), value);
        }

        BinaryPrimitives.WriteUInt32LittleEndian(bad.AsSpan(offset), value);
        PersistenceKit.RehashHeader(bad);
        KvCacheFormatException error = await PersistenceKit.AssertRefusedAsync<KvCacheFormatException>(_target, () => PersistenceKit.RestoreAsync(_target, bad), beforeAllocating: true);
        Assert.Equal(KvCacheFormatError.CountOutOfRange, error.Reason);
    }

    [Fact]
    public async Task A_well_formed_cache_larger_than_the_pool_is_refused_as_exhaustion_before_anything_is_allocated()
    {
        byte[] bad = (byte[])_file.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(bad.AsSpan(56), 1_000_000);
        PersistenceKit.RehashHeader(bad);
        BlockPoolExhaustedException error = await PersistenceKit.AssertRefusedAsync<BlockPoolExhaustedException>(_target, () => PersistenceKit.RestoreAsync(_target, bad), beforeAllocating: true);
        Assert.Equal(1_000_000 + 6, error.Requested);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4096)]
    public async Task Trailing_garbage_is_refused_after_the_checksums_and_every_block_is_returned(int extra)
    {
        byte[] bad = [.. _file, .. new byte[extra]];
        KvCacheFormatException error = await PersistenceKit.AssertRefusedAsync<KvCacheFormatException>(_target, () => PersistenceKit.RestoreAsync(_target, bad));
        Assert.Equal(KvCacheFormatError.TrailingData, error.Reason);
        Assert.Equal(_file.Length, error.Offset);
    }

    [Fact]
    public async Task A_restore_canceled_midway_returns_every_block()
    {
        using var cancel = new CancellationTokenSource();
        var stream = new TrickleStream(_file, chunk: 64, cancelAt: cancel, cancelOffset: _file.Length / 2);
        await PersistenceKit.AssertRefusedAsync<OperationCanceledException>(_target, () => KvCacheReader.RestoreAsync(_target, stream, cancellationToken: cancel.Token));
        Assert.False(_target.ContainsAgent(Agent));
    }

    [Fact]
    public async Task A_restore_canceled_before_it_starts_changes_nothing()
    {
        using var cancel = new CancellationTokenSource();
        await cancel.CancelAsync();
        await PersistenceKit.AssertRefusedAsync<OperationCanceledException>(_target, () => PersistenceKit.RestoreAsync(_target, _file, cancellationToken: cancel.Token), beforeAllocating: true);
    }

    [Fact]
    public async Task A_pool_too_full_for_the_cache_refuses_it_and_keeps_every_agent_intact()
    {
        // 32 blocks, the bystander holds 4; another agent takes 20, leaving 8 of the 9 the cache needs.
        PersistenceKit.Fill(_target, new AgentId(501), seed: 13, 10, 5, 5);
        BlockPoolExhaustedException error = await PersistenceKit.AssertRefusedAsync<BlockPoolExhaustedException>(_target, () => PersistenceKit.RestoreAsync(_target, _file));
        Assert.Equal(8, _target.AvailableBlocks);
        Assert.Equal((4, 3, 32), (error.Requested, error.Available, error.Capacity)); // layer 2's 4 blocks, after layers 0 and 1 took 5 of the 8
    }

    [Fact]
    public async Task A_device_failure_midway_surfaces_as_the_io_error_and_returns_every_block()
    {
        var stream = new TrickleStream(_file, chunk: 100, failAt: _file.Length - 200);
        IOException error = await PersistenceKit.AssertRefusedAsync<IOException>(_target, () => KvCacheReader.RestoreAsync(_target, stream));
        Assert.IsNotType<KvCacheFormatException>(error);
        Assert.Contains("Simulated device failure", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Restoring_into_an_agent_that_holds_blocks_is_refused_and_the_agent_is_unchanged()
    {
        ArgumentException error = await PersistenceKit.AssertRefusedAsync<ArgumentException>(_target, () => PersistenceKit.RestoreAsync(_target, _file, Bystander), beforeAllocating: true);
        Assert.Contains("already holds 4 block(s)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_restore_refused_after_reading_data_leaves_the_returned_blocks_zeroed()
    {
        byte[] bad = (byte[])_file.Clone();
        bad[^1] ^= 0x80;
        await PersistenceKit.AssertRefusedAsync<KvCacheFormatException>(_target, () => PersistenceKit.RestoreAsync(_target, bad));

        // Whoever gets the blocks next sees zeros, not the rejected cache's bytes.
        KvBlock[] all = _target.Allocate(new AgentId(502), 0, _target.AvailableBlocks);
        Assert.All(all, block => Assert.True(_target.GetBlockSpan(block).IndexOfAnyExcept((byte)0) < 0));
    }
}
