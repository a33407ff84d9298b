using KvBlockPool.Hosting.Configuration;
using Microsoft.Extensions.Options;

namespace KvBlockPool.Hosting;

/// <summary>
/// Validates <see cref="KvBlockPoolHostingOptions"/> when the host starts (<c>ValidateOnStart</c>) and whenever the
/// options are first read: every value the section could not read, and every setting the pool would refuse, each
/// named by its key with the accepted forms. Takes no memory: the spec is built (by <see cref="KvCacheSpec"/>'s own
/// constructor, whose messages are reported), the pool is not.
/// </summary>
internal sealed class KvBlockPoolOptionsValidator : IValidateOptions<KvBlockPoolHostingOptions>
{
    public ValidateOptionsResult Validate(string? name, KvBlockPoolHostingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (name is not null && name != Options.DefaultName)
        {
            return ValidateOptionsResult.Skip;
        }

        var failures = new List<string>(options.BindingErrors);
        PoolOptionsBuilder.TryBuild(options, failures);
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
