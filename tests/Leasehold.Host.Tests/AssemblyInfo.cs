using System.Runtime.Versioning;

// The server runs on Linux only (file handles, O_PATH, /proc/self/fd), and so do these tests.
[assembly: SupportedOSPlatform("linux")]

// Each test starts `dotnet` child processes; two test classes at a time keep a small machine responsive.
[assembly: CollectionBehavior(MaxParallelThreads = 2)]
