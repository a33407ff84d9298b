using System.Runtime.InteropServices;
using KvBlockPool.Lifecycle;
using KvBlockPool.Prefix;
using KvBlockPool.Redis;
using KvBlockPool.Samples.OnnxDecode;
using KvBlockPool.Tier.Tests.Shared;

namespace KvBlockPool.Tier.Tests.Integration;

/// <summary>
/// The real model (the sample's ONNX GPT-2) across two hosts sharing a Garnet tier: the second host restores the
/// prompt's chunks the first computed, and its decode reproduces ONNX Runtime's own logits bit for bit.
/// </summary>
[Collection(GarnetCollection.Name)]
[Trait(GarnetCollection.TraitName, GarnetCollection.TraitValue)]
public sealed class TierModelTests(GarnetFixture garnet)
{
    [Fact]
    public async Task A_decode_on_a_prefix_restored_from_the_tier_reproduces_OnnxRuntime_logits_bit_for_bit()
    {
        using DecoderModel model = DecoderModel.Load(DecoderModel.DefaultPath);
        var spec = new KvCacheSpec(model.Spec.Layers, model.Spec.KvHeads, model.Spec.HeadDim, 4, KvElementType.Float32);
        await using RedisKvChunkStore store = await RedisKvChunkStore.ConnectAsync(garnet.Options("model"));
        byte[] secret = [.. Enumerable.Range(40, 32).Select(i => (byte)i)];
        int[] prompt = new DecodeRunOptions { PromptTokens = 13 }.Prompt(0, model.VocabSize); // 3 chunks and a token
        List<float[]> reference = ReferenceLogits(model, prompt[..12], [prompt[12]]);

        // The first host computes the first 12 tokens and publishes their 3 chunks, which go to the tier.
        using BlockPool firstPool = Create(spec, store, secret);
        using var firstCache = new AgentCacheManager(firstPool);
        using var firstDecoder = new PooledDecoder(model, firstCache, maxPromptTokens: 16);
        (ReadOnlyMemory<float> computed, KvPrefixAdmission cold) = await firstDecoder.PrefillCachedAsync(new AgentId(1), prompt[..12]);
        Assert.Equal(0, cold.CachedTokens);
        AssertSameBits(reference[0], computed.Span, "the first host's prefill");
        await firstPool.Tier!.DrainAsync(CancellationToken.None);
        Assert.Equal(3, firstPool.Tier.Offloaded);

        // The second host restores them and runs the model over the 13th token only, on a past read from the tier's bytes.
        using BlockPool secondPool = Create(spec, store, secret);
        using var secondCache = new AgentCacheManager(secondPool);
        using var secondDecoder = new PooledDecoder(model, secondCache, maxPromptTokens: 16);
        (ReadOnlyMemory<float> restored, KvPrefixAdmission warm) = await secondDecoder.PrefillCachedAsync(new AgentId(2), prompt);

        Assert.Equal((12, 12), (warm.CachedTokens, warm.TierTokens));
        AssertSameBits(reference[1], restored.Span, "the second host's 13th token on the restored past");
        int token = MultiAgentDecode.ArgMaxOfLastRow(reference[1], model.VocabSize);
        List<float[]> onward = ReferenceLogits(model, prompt[..12], [prompt[12], token]);
        AssertSameBits(onward[2], secondDecoder.Decode(new AgentId(2), token), "the second host, a step on");
    }

    private static BlockPool Create(KvCacheSpec spec, IKvChunkStore store, byte[] secret) => new(new BlockPoolOptions
    {
        Spec = spec,
        CapacityBlocks = 512,
        PrefixCache = new KvPrefixCacheOptions { KeySecret = secret, Tier = new KvTierOptions { Store = store, RestoreTimeout = TimeSpan.FromSeconds(5) } },
    });

    /// <summary>ONNX Runtime's own decoding: the prompt, then each of <paramref name="fed"/>, present fed back as past.</summary>
    private static List<float[]> ReferenceLogits(DecoderModel model, int[] prompt, ReadOnlySpan<int> fed)
    {
        using var decoder = new ContiguousDecoder(model, PresentHandling.OrtAllocated, prompt.Length);
        var logits = new List<float[]> { decoder.Prefill(prompt).ToArray() };
        foreach (int token in fed)
        {
            logits.Add(decoder.Decode(token).ToArray());
        }

        return logits;
    }

    private static void AssertSameBits(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string where)
    {
        Assert.Equal(expected.Length, actual.Length);
        Assert.True(MemoryMarshal.AsBytes(expected).SequenceEqual(MemoryMarshal.AsBytes(actual)), $"{where}: the logits differ from ONNX Runtime's own decoding.");
    }
}
