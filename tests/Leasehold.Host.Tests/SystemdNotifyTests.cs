using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace Leasehold.Host.Tests;

/// <summary>
/// deploy/leasehold.service is Type=notify: the server tells systemd READY=1 once it serves, and STOPPING=1 when told to
/// stop. Checked without systemd the way systemd itself is seen: the server's parent process is named "systemd" (a copy
/// of /bin/sh under that name, which is how Microsoft.Extensions.Hosting.Systemd recognises its service manager) and
/// NOTIFY_SOCKET names a datagram socket of the test's.
/// </summary>
public sealed class SystemdNotifyTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("leasehold-systemd-").FullName;

    [Fact]
    public async Task Under_systemd_the_server_says_READY_once_it_serves_and_STOPPING_when_stopped()
    {
        string notify = Path.Join(_dir, "notify");
        using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(notify));
        string systemd = Path.Join(_dir, "systemd");
        File.Copy("/bin/sh", systemd);
        File.SetUnixFileMode(systemd, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        Directory.CreateDirectory(Path.Join(_dir, "export"));
        string pidFile = Path.Join(_dir, "pid");

        var start = new ProcessStartInfo(systemd) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = _dir };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add($"dotnet '{LeaseholdCommand.Dll}' serve '{_dir}/export' --listen 127.0.0.1:0 & echo $! > '{pidFile}'; wait $!");
        foreach (string name in start.Environment.Keys.Where(k => k.StartsWith("LEASEHOLD_", StringComparison.OrdinalIgnoreCase)).ToList())
            start.Environment.Remove(name);
        start.Environment["NOTIFY_SOCKET"] = notify;
        using var shell = Process.Start(start)!;
        var output = shell.StandardOutput.ReadToEndAsync();
        var errors = shell.StandardError.ReadToEndAsync();
        try
        {
            string ready = await ReceiveAsync(socket);
            Assert.Contains("READY=1", ready);
            // Ready means serving: the admin endpoint (the last service to start) is up by now.
            Assert.True(File.Exists(Path.Join(_dir, ".leasehold-state", "admin.sock")), "READY=1 came before the admin socket existed");

            int pid = int.Parse(File.ReadAllText(pidFile).Trim(), System.Globalization.CultureInfo.InvariantCulture);
            Assert.Equal(0, Kill(pid, 15)); // SIGTERM, as systemctl stop sends
            Assert.Contains("STOPPING=1", await ReceiveAsync(socket));
            using var exited = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await shell.WaitForExitAsync(exited.Token);
            Assert.True(shell.ExitCode == 0, $"exit {shell.ExitCode}\n{await output}\n{await errors}");
        }
        finally
        {
            if (!shell.HasExited)
                shell.Kill(entireProcessTree: true);
        }
    }

    private static async Task<string> ReceiveAsync(Socket socket)
    {
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(LeaseholdCommand.Timeout);
        int n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
        return Encoding.UTF8.GetString(buffer, 0, n);
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
