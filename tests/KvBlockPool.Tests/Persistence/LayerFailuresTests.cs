using KvBlockPool.Persistence;

namespace KvBlockPool.Tests.Persistence;

/// <summary>
/// How a parallel restore picks the error it reports and tells workers to give up: whatever order the workers
/// record failures in, and whatever their kind, the lowest failed layer wins, as a reader going through the file in
/// order would meet it first; a cancellation stops everything and is reported as a cancellation.
/// </summary>
public sealed class LayerFailuresTests
{
    [Fact]
    public void The_lowest_failed_layer_is_reported_whatever_order_the_workers_found_them_in()
    {
        var failures = new LayerFailures(8);
        failures.ThrowIfAny();
        failures.Record(6, BadLayer(6));
        Assert.True(failures.ShouldAbandon(7));
        Assert.False(failures.ShouldAbandon(5), "layers before a failed one must still be checked");
        failures.Record(3, BadLayer(3));
        failures.Record(5, BadLayer(5));
        Assert.True(failures.ShouldAbandon(4));
        Assert.False(failures.ShouldAbandon(2));

        KvCacheFormatException error = Assert.Throws<KvCacheFormatException>(failures.ThrowIfAny);
        Assert.Equal(3, error.Offset);
    }

    [Fact]
    public void An_io_error_is_ordered_with_bad_layers_by_layer_not_by_kind()
    {
        var later = new LayerFailures(8);
        later.Record(5, new IOException("the disk failed"));
        later.Record(1, BadLayer(1));
        Assert.Equal(1, Assert.Throws<KvCacheFormatException>(later.ThrowIfAny).Offset);

        var earlier = new LayerFailures(8);
        earlier.Record(4, BadLayer(4));
        earlier.Record(2, new IOException("the disk failed"));
        Assert.False(earlier.ShouldAbandon(1));
        Assert.Equal("the disk failed", Assert.Throws<IOException>(earlier.ThrowIfAny).Message);
    }

    [Fact]
    public void A_cancellation_stops_every_layer_and_is_reported_over_any_bad_layer()
    {
        var failures = new LayerFailures(8);
        failures.Record(1, BadLayer(1));
        failures.Record(5, new OperationCanceledException("canceled"));
        Assert.True(failures.ShouldAbandon(0));
        Assert.Equal("canceled", Assert.Throws<OperationCanceledException>(failures.ThrowIfAny).Message);
    }

    private static KvCacheFormatException BadLayer(int layer) =>
        new(KvCacheFormatError.LayerChecksumMismatch, layer, $"layer {layer} is bad");
}
