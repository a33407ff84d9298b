using StackExchange.Redis;

namespace KvBlockPool.Tier.Tests.Shared;

/// <summary>
/// The shared server's fixture: it runs against the server the environment names (a loopback one only), and the trait
/// CI selects the collection's tests by marks exactly the classes that use it.
/// </summary>
[Collection(GarnetCollection.Name)]
[Trait(GarnetCollection.TraitName, GarnetCollection.TraitValue)]
public sealed class GarnetFixtureTests(GarnetFixture garnet)
{
    [Fact]
    public async Task The_collection_runs_against_the_server_the_environment_names_or_an_embedded_one()
    {
        string? named = Environment.GetEnvironmentVariable(GarnetFixture.EndPointVariable);
        bool external = !string.IsNullOrWhiteSpace(named);

        Assert.Equal(external, garnet.IsExternal);
        if (external)
        {
            Assert.Equal(LoopbackEndPoint.Parse(named!, GarnetFixture.EndPointVariable), garnet.EndPoint);
        }

        await using ConnectionMultiplexer connection = await ConnectionMultiplexer.ConnectAsync(garnet.EndPoint);
        Assert.True(await connection.GetDatabase().PingAsync() < TimeSpan.FromSeconds(5));
        Assert.StartsWith($"test-{garnet.RunId}-", garnet.Options("any").KeyPrefix, StringComparison.Ordinal);
        Assert.Matches("^[0-9a-f]{12}$", garnet.RunId);
    }

    [Theory]
    [InlineData("127.0.0.1:6379", "127.0.0.1:6379")]
    [InlineData(" 127.0.0.1:40001 ", "127.0.0.1:40001")]
    [InlineData("127.8.9.10:6379", "127.8.9.10:6379")]
    [InlineData("[::1]:6380", "[::1]:6380")]
    public void A_loopback_address_and_port_are_taken(string value, string expected) =>
        Assert.Equal(expected, LoopbackEndPoint.Parse(value, GarnetFixture.EndPointVariable));

    [Theory]
    [InlineData("10.0.0.5:6379", "not a loopback address")]
    [InlineData("0.0.0.0:6379", "not a loopback address")]
    [InlineData("[2001:db8::1]:6379", "not a loopback address")]
    [InlineData("localhost:6379", "not an IP address and a port")]
    [InlineData("tier.internal:6379", "not an IP address and a port")]
    [InlineData("127.0.0.1", "not an IP address and a port")]
    [InlineData("127.0.0.1:0", "not an IP address and a port")]
    [InlineData("127.0.0.1:70000", "not an IP address and a port")]
    public void Anything_but_a_loopback_address_and_port_is_refused_with_the_variable_and_value_named(string value, string reason)
    {
        ArgumentException error = Assert.Throws<ArgumentException>(() => LoopbackEndPoint.Parse(value, GarnetFixture.EndPointVariable));

        Assert.Contains($"{GarnetFixture.EndPointVariable} is '{value}', which is {reason}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Exactly_the_classes_in_the_Garnet_collection_carry_the_trait_CI_selects_them_by()
    {
        Type[] types = typeof(GarnetFixture).Assembly.GetTypes();
        string[] inCollection = [.. types.Where(t => Has(t, typeof(CollectionAttribute), GarnetCollection.Name)).Select(t => t.FullName!).Order()];
        string[] traited = [.. types.Where(t => Has(t, typeof(TraitAttribute), GarnetCollection.TraitName, GarnetCollection.TraitValue)).Select(t => t.FullName!).Order()];

        Assert.Contains(typeof(Integration.SharedTierTests).FullName, inCollection);
        Assert.Equal(inCollection, traited);
    }

    private static bool Has(Type type, Type attribute, params string[] arguments) =>
        type.GetCustomAttributesData().Any(a => a.AttributeType == attribute && a.ConstructorArguments.Select(c => c.Value as string).SequenceEqual(arguments));
}
