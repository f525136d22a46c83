// The server is Linux-only (name_to_handle_at, statx, fsuid), and these tests look at its export with Unix calls.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
