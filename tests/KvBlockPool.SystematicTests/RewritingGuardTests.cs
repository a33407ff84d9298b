using Microsoft.Coyote.Rewriting;

namespace KvBlockPool.SystematicTests;

/// <summary>
/// Without rewriting Coyote controls nothing: every scenario would report a bogus deadlock, or worse, pass while
/// exploring a single schedule. The build rewrites both assemblies in this project's output folder; these
/// tests fail loudly when it did not.
/// </summary>
public sealed class RewritingGuardTests
{
    [Fact]
    public void The_library_loaded_by_the_systematic_tests_is_rewritten_by_Coyote() =>
        Assert.True(
            RewritingEngine.IsAssemblyRewritten(typeof(BlockPool).Assembly),
            $"{typeof(BlockPool).Assembly.Location} is not rewritten. Build this project (its CoyoteRewrite target runs after Build) instead of copying binaries.");

    [Fact]
    public void The_systematic_test_assembly_is_rewritten_by_Coyote() =>
        Assert.True(
            RewritingEngine.IsAssemblyRewritten(typeof(RewritingGuardTests).Assembly),
            $"{typeof(RewritingGuardTests).Assembly.Location} is not rewritten. Build this project (its CoyoteRewrite target runs after Build) instead of copying binaries.");
}
