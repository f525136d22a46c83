using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using Leasehold.Host;
using Leasehold.Host.Demo;
using Leasehold.Host.Serving;
using Leasehold.Host.Settings;

// Before any socket exists: the runtime reads this once (see SocketScheduling).
SocketScheduling.PreferInlineCompletions();

var root = new RootCommand("Leasehold: a delegation-aware NFSv4.1 and 4.2 file server built around a lease engine.");
var serve = ServeCommand.Create();
root.Subcommands.Add(serve);
root.Subcommands.Add(DemoCommand.Create());
foreach (var verb in Leasehold.Host.Admin.AdminCommands.Create())
    root.Subcommands.Add(verb);

// `serve --help` ends with the settings: the file, the environment, every key and its default.
if (root.Options.OfType<HelpOption>().FirstOrDefault() is { Action: SynchronousCommandLineAction help } helpOption)
{
    helpOption.Action = new AppendedHelp(help, serve,
        () => SettingsHelp.Text(ServeCommand.DefaultConfigFile, ServeCommand.EnvironmentPrefix));
}

// A usage error is one line on stderr, as every other refusal; --help shows the rest.
var parse = root.Parse(args);
// `leasehold client show --help` is a question, not an error: a missing argument must not stop the help.
bool helpAsked = root.Options.OfType<HelpOption>().Any(h => parse.GetResult(h) is not null);
if (parse.Errors.Count > 0 && !helpAsked)
{
    string command = string.Join(' ', CommandPath(parse.CommandResult));
    // A mistyped option takes the place of an argument and leaves its value unmatched: name the option, not the value.
    var error = parse.Errors.FirstOrDefault(e => e.Message.StartsWith("unknown option", StringComparison.Ordinal))?.Message.TrimEnd('.');
    if (error is null && parse.UnmatchedTokens.Count > 0)
    {
        // "leasehold frobnicate" would otherwise say "Required command was not provided", and "serve x --lisen" give
        // no hint: name the token, and the nearest option or command.
        string token = parse.UnmatchedTokens[0];
        var current = parse.CommandResult.Command;
        bool option = token.StartsWith('-');
        var names = option
            ? current.Options.Select(o => o.Name)
            : current.Subcommands.Select(c => c.Name);
        string? near = SettingsSchema.Nearest(token, names);
        string what = option ? "option" : current.Subcommands.Count > 0 ? "command" : "argument";
        string hint = near is not null ? $" (did you mean {near}?)"
            : !option && current.Subcommands.Count > 0 ? $" (commands: {string.Join(", ", current.Subcommands.Select(c => c.Name))})" : "";
        error = $"{(what == "argument" ? "unexpected" : "unknown")} {what} {token}{hint}";
    }
    Console.Error.WriteLine($"leasehold: {error ?? parse.Errors[0].Message.TrimEnd('.')} (see {command} --help)");
    return 2;
}
// Signals are the host's alone: `serve` stops through its lifetime (ConsoleLifetime, or SystemdLifetime under systemd),
// which takes SIGTERM, SIGINT and SIGQUIT, stops every service cleanly and exits 0. System.CommandLine's own handler is
// off (ProcessTerminationTimeout = null): two handlers raced on one SIGTERM, and under load the process sometimes
// ended with 143 halfway through its clean stop (SystemdNotifyTests caught it about once in ten runs on a loaded
// machine). The admin verbs are short HTTP requests; a signal ends them as it ends any command-line tool.
return await parse.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });

// "leasehold client show": the names from the root down to the command that was parsed.
static IEnumerable<string> CommandPath(System.CommandLine.Parsing.CommandResult result) =>
    result.Parent is System.CommandLine.Parsing.CommandResult parent ? [.. CommandPath(parent), result.Command.Name] : ["leasehold"];
