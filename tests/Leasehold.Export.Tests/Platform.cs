using System.Runtime.Versioning;

// The export layer is Linux-only (file handles, O_PATH, /proc/self/fd), and so are its tests.
[assembly: SupportedOSPlatform("linux")]
