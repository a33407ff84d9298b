using KvBlockPool.Samples.OnnxDecode;

namespace KvBlockPool.ModelTests;

/// <summary>The sample's model, loaded once for a test class.</summary>
public sealed class ModelFixture : IDisposable
{
    public DecoderModel Model { get; } = DecoderModel.Load(DecoderModel.DefaultPath);

    public void Dispose() => Model.Dispose();
}
