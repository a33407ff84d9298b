using System.Globalization;

namespace KvBlockPool.Cli.Commands;

/// <summary>
/// Reads <c>--name value</c> options and <c>--flag</c> switches, in any order. Every mistake (an unknown option,
/// a missing or malformed value, a value out of range) is a <see cref="UsageException"/> that names the option.
/// </summary>
internal sealed class OptionReader
{
    private readonly Dictionary<string, string?> _given = new(StringComparer.Ordinal);

    public OptionReader(IReadOnlyList<string> args, IReadOnlySet<string> valueOptions, IReadOnlySet<string> flags)
    {
        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            string name = arg;
            string? inlineValue = null;
            int equals = arg.IndexOf('=', StringComparison.Ordinal);
            if (arg.StartsWith("--", StringComparison.Ordinal) && equals > 0)
            {
                name = arg[..equals];
                inlineValue = arg[(equals + 1)..];
            }

            if (flags.Contains(name) && inlineValue is null)
            {
                _given[name] = null;
            }
            else if (valueOptions.Contains(name))
            {
                string? value = inlineValue ?? (i + 1 < args.Count ? args[++i] : null);
                if (string.IsNullOrEmpty(value) || (inlineValue is null && value.StartsWith("--", StringComparison.Ordinal)))
                {
                    throw new UsageException($"{name} needs a value.");
                }

                if (!_given.TryAdd(name, value))
                {
                    throw new UsageException($"{name} is given twice.");
                }
            }
            else
            {
                throw new UsageException(arg.StartsWith('-') ? $"unknown option '{arg}'." : $"unexpected argument '{arg}'.");
            }
        }
    }

    public bool Has(string name) => _given.ContainsKey(name);

    public string? String(string name) => _given.GetValueOrDefault(name);

    public int Int(string name, int fallback, int min, int max)
    {
        if (!_given.TryGetValue(name, out string? text) || text is null)
        {
            return fallback;
        }

        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value))
        {
            throw new UsageException($"{name} must be a whole number, not '{text}'.");
        }

        return value >= min && value <= max ? value : throw new UsageException($"{name} must be between {min} and {max}, not {value}.");
    }

    public double Double(string name, double fallback, double min, double max)
    {
        if (!_given.TryGetValue(name, out string? text) || text is null)
        {
            return fallback;
        }

        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !double.IsFinite(value))
        {
            throw new UsageException($"{name} must be a number, not '{text}'.");
        }

        return value >= min && value <= max ? value : throw new UsageException($"{name} must be between {min} and {max}, not {value}.");
    }
}
