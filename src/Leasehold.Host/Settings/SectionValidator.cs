using Microsoft.Extensions.Options;

namespace Leasehold.Host.Settings;

/// <summary>
/// Runs an options class's own Validate() and turns its ArgumentException into one line that names the setting as
/// the user wrote it and the value given: <c>--lease-time "1": LeaseTime must be between 2 s and 1 h</c>.
/// </summary>
internal sealed class SectionValidator<T>(string section, Action<T> validate, SettingsSources sources) : IValidateOptions<T>
    where T : class
{
    public ValidateOptionsResult Validate(string? name, T options)
    {
        try
        {
            validate(options);
            return ValidateOptionsResult.Success;
        }
        catch (ArgumentException ex)
        {
            return ValidateOptionsResult.Fail(Describe(section, ex, sources));
        }
    }

    /// <summary>"{setting and value}: {the class's sentence}", without the exception's "(Parameter ...)" and "Actual value" lines.</summary>
    public static string Describe(string section, ArgumentException ex, SettingsSources sources)
    {
        string sentence = Sentence(ex);
        if (string.IsNullOrEmpty(ex.ParamName))
            return $"{section}: {sentence}";
        string key = $"{section}:{ex.ParamName}";
        return $"{sources.NameWithValue(key)}: {sentence}";
    }

    /// <summary>The exception's own sentence: its message without "(Parameter ...)", "Actual value was" and the full stop.</summary>
    public static string Sentence(ArgumentException ex)
    {
        string sentence = ex.Message;
        int cut = sentence.IndexOf(" (Parameter '", StringComparison.Ordinal);
        if (cut >= 0)
            sentence = sentence[..cut];
        int newline = sentence.IndexOfAny(['\r', '\n']);
        if (newline >= 0)
            sentence = sentence[..newline];
        return sentence.TrimEnd('.', ' ');
    }
}
