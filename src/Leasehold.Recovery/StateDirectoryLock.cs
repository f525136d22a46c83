using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Leasehold.Recovery;

/// <summary>
/// Keeps a second server off a state directory that one is using: an exclusive flock(2) on
/// <c>&lt;state&gt;/leasehold.lock</c>, which holds the owner's pid, taken at start and released at stop (or by the
/// kernel when the process dies, SIGKILL included). flock belongs to the open file description, so a second server in
/// the same process is refused too. Two servers on one state directory would each think they own the client records
/// and the grace period.
/// </summary>
public sealed class StateDirectoryLock : IDisposable
{
    /// <summary>The lock file's name in the state directory.</summary>
    public const string FileName = "leasehold.lock";

    private int _fd;

    private StateDirectoryLock(int fd, string path)
    {
        _fd = fd;
        Path = path;
    }

    /// <summary>The lock file.</summary>
    public string Path { get; }

    /// <summary>
    /// Takes the lock of <paramref name="stateDirectory"/> (which must exist) without waiting, and writes this process's
    /// pid into it. Throws <see cref="StateDirectoryInUseException"/> when another server holds it, and
    /// <see cref="IOException"/> when the file cannot be opened or locked.
    /// </summary>
    public static StateDirectoryLock Acquire(string stateDirectory)
    {
        string path = System.IO.Path.Join(stateDirectory, FileName);
        int fd = Native.Open(path, Native.ORdWr | Native.OCreat | Native.OCloExec, 0x180); // 0600
        if (fd < 0)
            throw new IOException($"cannot open {path}: {Native.LastError()}");
        while (Native.Flock(fd, Native.LockEx | Native.LockNb) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno == Native.EIntr)
                continue;
            string message = Native.LastError();
            int? holder = errno == Native.EWouldBlock ? ReadPid(fd) : null;
            _ = Native.Close(fd);
            if (errno == Native.EWouldBlock)
                throw new StateDirectoryInUseException(stateDirectory, holder);
            throw new IOException($"cannot lock {path}: {message}");
        }
        byte[] pid = Encoding.ASCII.GetBytes(Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n");
        if (Native.Ftruncate(fd, 0) != 0 || Native.Pwrite(fd, pid, pid.Length, 0) != pid.Length)
        {
            string message = Native.LastError();
            _ = Native.Close(fd);
            throw new IOException($"cannot write {path}: {message}");
        }
        return new StateDirectoryLock(fd, path);
    }

    /// <summary>
    /// The pid written in <paramref name="stateDirectory"/>'s lock file (by the server that holds it or held it last), or
    /// null. Read with plain read(2): .NET's own file APIs take a shared flock, which the holder's exclusive one refuses.
    /// </summary>
    public static int? HolderPid(string stateDirectory)
    {
        int fd = Native.Open(System.IO.Path.Join(stateDirectory, FileName), Native.ORdOnly | Native.OCloExec, 0);
        if (fd < 0)
            return null;
        try
        {
            return ReadPid(fd);
        }
        finally
        {
            _ = Native.Close(fd);
        }
    }

    private static int? ReadPid(int fd)
    {
        var buffer = new byte[32];
        nint read = Native.Pread(fd, buffer, buffer.Length, 0);
        if (read <= 0)
            return null;
        return int.TryParse(Encoding.ASCII.GetString(buffer, 0, (int)read).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int pid) ? pid : null;
    }

    /// <summary>Releases the lock (closing the descriptor releases the flock). The file stays.</summary>
    public void Dispose()
    {
        int fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0)
            _ = Native.Close(fd);
    }
}

/// <summary>Another server holds the state directory's lock.</summary>
public sealed class StateDirectoryInUseException : IOException
{
    public StateDirectoryInUseException(string stateDirectory, int? pid)
        : base(pid is { } p
            ? $"the state directory {stateDirectory} is in use by another leasehold (pid {p}); give this one its own with Export:StateDirectory"
            : $"the state directory {stateDirectory} is in use by another leasehold; give this one its own with Export:StateDirectory")
    {
        StateDirectory = stateDirectory;
        Pid = pid;
    }

    public StateDirectoryInUseException()
    {
        StateDirectory = "";
    }

    public StateDirectoryInUseException(string message)
        : base(message)
    {
        StateDirectory = "";
    }

    public StateDirectoryInUseException(string message, Exception innerException)
        : base(message, innerException)
    {
        StateDirectory = "";
    }

    /// <summary>The directory whose lock is held.</summary>
    public string StateDirectory { get; }

    /// <summary>The holder's pid, as it wrote it in the lock file (null when unreadable).</summary>
    public int? Pid { get; }
}
