using System.Text.Json.Serialization;

namespace KvBlockPool.Cli.Inspect;

/// <summary>The serializer for <see cref="InspectJsonDocument"/>, generated at build time: nothing is reflected at run time.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(InspectJsonDocument))]
internal sealed partial class InspectJsonContext : JsonSerializerContext
{
}
