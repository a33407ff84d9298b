using System.IO.Hashing;
using KvBlockPool.Persistence;

namespace KvBlockPool.Tests.Persistence;

public sealed class InspectTests
{
    private static readonly AgentId Agent = new(42);

    [Fact]
    public async Task A_valid_cache_reports_its_header_and_the_true_checksum_of_every_layer()
    {
        using BlockPool pool = TestPools.Create(capacity: 64, layers: 3);
        PersistenceKit.Fill(pool, Agent, seed: 31, 2, 3, 1);
        byte[][] layers = PersistenceKit.Snapshot(pool, Agent);
        byte[] file = await PersistenceKit.SaveAsync(pool, Agent, tokens: 11);

        KvCacheInspectionReport report = await KvCacheInspector.InspectAsync(new MemoryStream(file));

        Assert.True(report.IsValid);
        Assert.Null(report.Error);
        Assert.Equal(file.Length, report.BytesRead);
        KvCacheHeader header = report.Header!;
        Assert.Equal((1, 2), (header.MajorVersion, header.MinorVersion));
        Assert.Equal(PersistenceKit.Spec, header.Spec);
        Assert.Equal(Agent, header.Agent);
        Assert.Equal(11, header.TokenCount);
        Assert.Equal([2, 3, 1], header.BlocksPerLayer);
        Assert.Equal(3, report.Layers.Count);
        for (int layer = 0; layer < 3; layer++)
        {
            Assert.Equal(XxHash3.HashToUInt64(layers[layer]), report.Layers[layer].ComputedChecksum);
            Assert.True(report.Layers[layer].IsValid);
        }

        string text = report.ToString();
        Assert.StartsWith("verdict: VALID", text, StringComparison.Ordinal);
        Assert.Contains("agent: 42", text, StringComparison.Ordinal);
        Assert.Contains("tokens: 11", text, StringComparison.Ordinal);
        Assert.Contains($"layer 1: 3 blocks, 768 bytes, checksum 0x{XxHash3.HashToUInt64(layers[1]):x16} ok", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_corrupt_layer_is_reported_with_its_checksums_and_the_other_layers_are_still_checked()
    {
        using BlockPool pool = TestPools.Create(capacity: 64, layers: 3);
        PersistenceKit.Fill(pool, Agent, seed: 32, 2, 2, 2);
        byte[] file = await PersistenceKit.SaveAsync(pool, Agent);
        file[PersistenceKit.HeaderLength + 600] ^= 0x40; // inside layer 1 (layer 0 is 512 bytes + 8 of checksum)

        KvCacheInspectionReport report = await KvCacheInspector.InspectAsync(new MemoryStream(file));

        Assert.False(report.IsValid);
        Assert.Equal(KvCacheFormatError.LayerChecksumMismatch, report.Error!.Reason);
        Assert.Equal([true, false, true], report.Layers.Select(l => l.IsValid));
        Assert.Contains("INVALID (LayerChecksumMismatch", report.ToString(), StringComparison.Ordinal);
        Assert.Contains("MISMATCH", report.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_file_that_is_not_a_cache_gets_a_verdict_not_an_exception()
    {
        string path = Path.Combine(Path.GetTempPath(), "kvcache-inspect-" + Guid.NewGuid().ToString("N"));
        await File.WriteAllTextAsync(path, "hello, this is text");
        try
        {
            KvCacheInspectionReport report = await KvCacheInspector.InspectFileAsync(path);
            Assert.False(report.IsValid);
            Assert.Null(report.Header);
            Assert.Equal(KvCacheFormatError.BadMagic, report.Error!.Reason);
            Assert.Contains("header: unreadable", report.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task A_truncated_cache_reports_the_layers_read_before_the_end()
    {
        using BlockPool pool = TestPools.Create(capacity: 64, layers: 3);
        PersistenceKit.Fill(pool, Agent, seed: 33, 1, 1, 1);
        byte[] file = await PersistenceKit.SaveAsync(pool, Agent);

        KvCacheInspectionReport report = await KvCacheInspector.InspectAsync(new MemoryStream(file[..^100]));

        Assert.False(report.IsValid);
        Assert.Equal(KvCacheFormatError.Truncated, report.Error!.Reason);
        Assert.Equal(Agent, report.Header!.Agent); // the header was read whole
        Assert.Equal([1, 1, 1], report.Header.BlocksPerLayer);
        Assert.Equal(2, report.Layers.Count);
    }
}
