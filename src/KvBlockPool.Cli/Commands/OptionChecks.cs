using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Numerics;

namespace KvBlockPool.Cli.Commands;

/// <summary>Checks on option values beyond their type, in words that name the option and the allowed values.</summary>
internal static class OptionChecks
{
    /// <summary>Rejects a value outside [<paramref name="min"/>, <paramref name="max"/>]: "--duration must be between 0.1 and 3600, not 0."</summary>
    public static Option<T> InRange<T>(this Option<T> option, T min, T max)
        where T : struct, INumber<T>
    {
        option.Validators.Add(result =>
        {
            if (TryGetValue(result, out T value) && OutOfRange(option, value, min, max) is { } error)
            {
                result.AddError(error);
            }
        });
        return option;
    }

    /// <summary>The same check for an option without a default, whose value is null when it is not given.</summary>
    public static Option<T?> InRange<T>(this Option<T?> option, T min, T max)
        where T : struct, INumber<T>
    {
        option.Validators.Add(result =>
        {
            if (TryGetValue(result, out T? value) && value is { } given && OutOfRange(option, given, min, max) is { } error)
            {
                result.AddError(error);
            }
        });
        return option;
    }

    /// <summary>
    /// The option's value, or its default when it was not given. False when the text did not convert: System.CommandLine
    /// still runs validators then (dotnet/command-line-api#2645) and reading the value would throw, while the
    /// conversion error is already reported.
    /// </summary>
    public static bool TryGetValue<T>(OptionResult result, out T value)
    {
        try
        {
            value = result.GetValueOrDefault<T>();
            return true;
        }
        catch (InvalidOperationException)
        {
            value = default!;
            return false;
        }
    }

    /// <summary>
    /// The value of <paramref name="option"/> as a command validator sees it: <paramref name="fallback"/> when it was
    /// not given (command validators do not run default value factories, dotnet/command-line-api#2841), false when it
    /// did not convert.
    /// </summary>
    public static bool TryGetValue<T>(CommandResult command, Option<T> option, T fallback, out T value)
    {
        OptionResult? result = command.GetResult(option);
        if (result is null || result.Implicit)
        {
            value = fallback;
            return true;
        }

        return TryGetValue(result, out value);
    }

    private static string? OutOfRange<T>(Option option, T value, T min, T max)
        where T : struct, INumber<T> =>
        value < min || value > max ? string.Create(CultureInfo.InvariantCulture, $"{option.Name} must be between {min} and {max}, not {value}.") : null;
}
