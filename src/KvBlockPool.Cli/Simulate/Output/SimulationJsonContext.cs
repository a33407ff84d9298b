using System.Text.Json.Serialization;

namespace KvBlockPool.Cli.Simulate.Output;

/// <summary>The serializer for <see cref="SimulationJsonDocument"/>, generated at build time: nothing is reflected at run time.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(SimulationJsonDocument))]
internal sealed partial class SimulationJsonContext : JsonSerializerContext
{
}
