namespace KvBlockPool.Tests.Diagnostics;

[Collection(ProcessWideCollection.Name)] // it sets a process-wide environment variable
public sealed class DiagnosticsSwitchTests
{
    [Theory]
    [InlineData("1", null, true)]
    [InlineData("true", null, true)]
    [InlineData("TRUE", null, true)]
    [InlineData("0", null, false)]
    [InlineData("yes", null, false)]
    [InlineData(null, null, false)]
    [InlineData("1", false, false)] // the option wins over the environment, either way
    [InlineData("TRUE", false, false)]
    [InlineData("0", true, true)]
    [InlineData("yes", true, true)]
    [InlineData(null, true, true)]
    public void Diagnostics_mode_is_switched_by_the_option_or_else_the_environment_variable(string? environment, bool? option, bool expected)
    {
        string? saved = Environment.GetEnvironmentVariable(BlockPoolOptions.DiagnosticsEnvironmentVariable);
        try
        {
            Environment.SetEnvironmentVariable(BlockPoolOptions.DiagnosticsEnvironmentVariable, environment);
            using BlockPool pool = TestPools.Create(capacity: 4, layers: 4, diagnostics: option);

            Assert.Equal(expected, pool.DiagnosticsEnabled);
        }
        finally
        {
            Environment.SetEnvironmentVariable(BlockPoolOptions.DiagnosticsEnvironmentVariable, saved);
        }
    }
}
