using System.Diagnostics;
using System.Text.Json;

namespace Leasehold.IntegrationTests.Admin;

/// <summary>
/// Runs the real <c>leasehold</c> command (<c>dotnet leasehold.dll VERB ...</c>) against a running server's state
/// directory, as an operator does, and returns its exit code and output. Every run is bounded.
/// </summary>
internal static class AdminCli
{
    private static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);

    public sealed record Run(int ExitCode, string Stdout, string Stderr)
    {
        public T Json<T>() => JsonSerializer.Deserialize<T>(Stdout, Web)
            ?? throw new InvalidOperationException($"no JSON in: {Stdout}");

        public override string ToString() => $"exit {ExitCode}\nstdout:\n{Stdout}\nstderr:\n{Stderr}";
    }

    public static async Task<Run> RunAsync(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "leasehold.dll"));
        foreach (string a in args)
            start.ArgumentList.Add(a);
        foreach (string name in start.Environment.Keys.Where(k => k.StartsWith("LEASEHOLD_", StringComparison.OrdinalIgnoreCase)).ToList())
            start.Environment.Remove(name);
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start dotnet");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"leasehold {string.Join(' ', args)} did not end within 60 s");
        }
        return new Run(process.ExitCode, await stdout, await stderr);
    }
}
