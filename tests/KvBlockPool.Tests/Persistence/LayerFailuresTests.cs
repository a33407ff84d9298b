using KvBlockPool.Persistence;

namespace KvBlockPool.Tests.Persistence;

/// <summary>
/// How a parallel restore picks the error it reports and tells workers to give up: whatever order the workers
/// record failures in, the first bad layer in the file wins, and a failure that is not about the data (I/O,
/// cancellation) wins over every bad layer and stops everything.
/// </summary>
public sealed class LayerFailuresTests
{
    [Fact]
    public void The_lowest_bad_layer_is_reported_whatever_order_the_workers_found_them_in()
    {
        var failures = new LayerFailures(8);
        failures.ThrowIfAny();
        failures.Record(6, BadLayer(6));
        Assert.True(failures.ShouldAbandon(7));
        Assert.False(failures.ShouldAbandon(5), "layers before a bad one must still be checked");
        failures.Record(3, BadLayer(3));
        failures.Record(5, BadLayer(5));
        Assert.True(failures.ShouldAbandon(4));
        Assert.False(failures.ShouldAbandon(2));

        KvCacheFormatException error = Assert.Throws<KvCacheFormatException>(failures.ThrowIfAny);
        Assert.Equal(3, error.Offset);
    }

    [Fact]
    public void A_failure_that_is_not_about_the_data_stops_every_layer_and_is_reported_first()
    {
        var failures = new LayerFailures(8);
        failures.Record(1, BadLayer(1));
        failures.Record(5, new IOException("the disk failed"));
        Assert.True(failures.ShouldAbandon(0));
        Assert.Equal("the disk failed", Assert.Throws<IOException>(failures.ThrowIfAny).Message);
    }

    private static KvCacheFormatException BadLayer(int layer) =>
        new(KvCacheFormatError.LayerChecksumMismatch, layer, $"layer {layer} is bad");
}
