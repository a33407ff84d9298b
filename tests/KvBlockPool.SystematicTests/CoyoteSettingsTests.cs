using KvBlockPool.SystematicTests.Harness;

namespace KvBlockPool.SystematicTests;

/// <summary>The deep-run and replay switches: a typo must fail loudly, never fall back to the short CI run.</summary>
public sealed class CoyoteSettingsTests
{
    [Fact]
    public void Without_variables_the_CI_defaults_apply()
    {
        CoyoteSettings settings = CoyoteSettings.From(_ => null);
        Assert.Equal(new CoyoteSettings(CoyoteSettings.DefaultIterations, CoyoteSettings.DefaultSeed, null), settings);
        Assert.True(settings.Iterations >= 1000, "CI explores at least 1,000 schedules per scenario.");
    }

    [Fact]
    public void Variables_set_iterations_seed_and_replay_file()
    {
        var variables = new Dictionary<string, string>
        {
            [CoyoteSettings.IterationsVariable] = "100000",
            [CoyoteSettings.SeedVariable] = "7",
            [CoyoteSettings.ReplayVariable] = "Scope.None.trace",
            [CoyoteSettings.DeadlockTimeoutVariable] = "60000",
        };
        CoyoteSettings settings = CoyoteSettings.From(name => variables.GetValueOrDefault(name));
        Assert.Equal(new CoyoteSettings(100000, 7, "Scope.None.trace", 60000), settings);
    }

    [Theory]
    [InlineData(CoyoteSettings.IterationsVariable, "10k")]
    [InlineData(CoyoteSettings.IterationsVariable, "0")]
    [InlineData(CoyoteSettings.IterationsVariable, "-5")]
    [InlineData(CoyoteSettings.SeedVariable, "0x10")]
    [InlineData(CoyoteSettings.DeadlockTimeoutVariable, "10")]
    public void A_malformed_value_is_refused_with_the_variable_named(string variable, string value)
    {
        var error = Assert.Throws<InvalidOperationException>(() => CoyoteSettings.From(name => name == variable ? value : null));
        Assert.Contains(variable, error.Message, StringComparison.Ordinal);
        Assert.Contains(value, error.Message, StringComparison.Ordinal);
    }
}
