namespace Leasehold.Host.Settings;

/// <summary>
/// A refused start: bad settings, a missing export, an address in use. The message is the whole story, one line that
/// names the setting, the file or the address; the command prints it without a stack trace and exits non-zero.
/// </summary>
public sealed class StartupException : Exception
{
    public StartupException(string message, StartupFault fault, Exception? innerException = null)
        : base(message, innerException)
    {
        Fault = fault;
    }

    public StartupException()
    {
    }

    public StartupException(string message)
        : base(message)
    {
    }

    public StartupException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>What kind of fault, which decides the exit code.</summary>
    public StartupFault Fault { get; } = StartupFault.Environment;

    /// <summary>The process exit code for this fault: 2 for settings, 1 for the machine (files, addresses).</summary>
    public int ExitCode => Fault == StartupFault.Settings ? 2 : 1;
}

/// <summary>Why a start was refused.</summary>
public enum StartupFault
{
    /// <summary>The settings are wrong (a value, a key, the settings file): exit code 2.</summary>
    Settings,

    /// <summary>The settings are fine but the machine disagrees (no such directory, address in use): exit code 1.</summary>
    Environment,
}
