using System.CommandLine;
using System.CommandLine.Invocation;

namespace Leasehold.Host;

/// <summary>The standard help, followed for one command by a section of our own (the settings of <c>serve</c>).</summary>
internal sealed class AppendedHelp(SynchronousCommandLineAction standard, Command command, Func<string> section) : SynchronousCommandLineAction
{
    public override int Invoke(ParseResult parseResult)
    {
        int result = standard.Invoke(parseResult);
        if (parseResult.CommandResult.Command == command)
            parseResult.InvocationConfiguration.Output.WriteLine(section());
        return result;
    }
}
