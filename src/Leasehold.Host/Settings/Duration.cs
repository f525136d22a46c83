using System.Globalization;

namespace Leasehold.Host.Settings;

/// <summary>
/// The one way Leasehold reads a duration, on the command line, in JSON and in the environment: a bare number is
/// seconds ("90", "0.5"); a number with a unit is that unit ("90s", "500ms", "2m", "1h", "1d", combined as in
/// "1m30s"); and hh:mm:ss with optional days and fractions ("00:01:30", "1.00:00:00") is TimeSpan's invariant
/// format. "1:30" is refused as ambiguous (minutes or hours?), and a bare "90" never means 90 days.
/// </summary>
public static class Duration
{
    /// <summary>What to write, for error messages and help.</summary>
    public const string Forms = "seconds such as 90, a unit such as 90s, 500ms, 1m30s, or hh:mm:ss such as 00:01:30";

    /// <summary>Parses <paramref name="text"/>; on failure <paramref name="error"/> says why, as a phrase after the value.</summary>
    public static bool TryParse(string? text, out TimeSpan value, out string error)
    {
        value = default;
        error = "";
        string s = (text ?? "").Trim();
        if (s.Length == 0)
        {
            error = $"is empty; write {Forms}";
            return false;
        }
        if (s.Contains(':', StringComparison.Ordinal))
            return TryParseClock(s, out value, out error);

        bool negative = s[0] == '-';
        int i = negative ? 1 : 0;
        if (i < s.Length && s[i] == '+')
            i++;
        decimal totalSeconds = 0;
        bool sawUnit = false, sawNumber = false;
        while (i < s.Length)
        {
            int start = i;
            while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.'))
                i++;
            if (start == i || !decimal.TryParse(s.AsSpan(start, i - start), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out decimal number))
                return Fail(out error);
            int unitStart = i;
            while (i < s.Length && char.IsAsciiLetter(s[i]))
                i++;
            string unit = s[unitStart..i].ToLowerInvariant();
            decimal? scale = unit switch
            {
                "" when !sawUnit && i == s.Length && !sawNumber => 1m,
                "ms" => 0.001m,
                "s" or "sec" => 1m,
                "m" or "min" => 60m,
                "h" => 3600m,
                "d" => 86400m,
                _ => null,
            };
            if (scale is null)
                return Fail(out error);
            sawUnit |= unit.Length > 0;
            sawNumber = true;
            try
            {
                totalSeconds += number * scale.Value;
            }
            catch (OverflowException)
            {
                error = "is far too long";
                return false;
            }
        }
        if (!sawNumber)
            return Fail(out error); // a sign alone ("-", "+") is no duration, not zero
        if (negative)
            totalSeconds = -totalSeconds;
        // TimeSpan holds ±10,675,199 days; anything near that is a typo, and the callers' ranges say so in their words.
        if (Math.Abs(totalSeconds) > (decimal)TimeSpan.MaxValue.TotalSeconds / 2)
        {
            error = "is far too long";
            return false;
        }
        value = TimeSpan.FromTicks((long)decimal.Round(totalSeconds * TimeSpan.TicksPerSecond));
        return true;
    }

    private static bool TryParseClock(string s, out TimeSpan value, out string error)
    {
        error = "";
        int colons = s.Count(c => c == ':');
        if (colons == 1)
        {
            value = default;
            error = $"is ambiguous (minutes or hours?); write hh:mm:ss such as 00:01:30, or a unit such as 90s";
            return false;
        }
        if (TimeSpan.TryParseExact(s, "c", CultureInfo.InvariantCulture, out value))
            return true;
        return Fail(out error);
    }

    private static bool Fail(out string error)
    {
        error = $"is not a duration; write {Forms}";
        return false;
    }

    /// <summary>A duration as people read it, in the shortest exact form: "90s", "500ms", "1.5s", "0s".</summary>
    public static string Format(TimeSpan value)
    {
        if (value.Ticks % TimeSpan.TicksPerSecond == 0)
            return $"{value.Ticks / TimeSpan.TicksPerSecond}s";
        if (value.Ticks % TimeSpan.TicksPerMillisecond == 0 && Math.Abs(value.TotalMilliseconds) < 1000)
            return $"{value.Ticks / TimeSpan.TicksPerMillisecond}ms";
        return string.Create(CultureInfo.InvariantCulture, $"{value.TotalSeconds:0.#######}s");
    }
}
