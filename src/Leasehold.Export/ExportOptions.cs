namespace Leasehold.Export;

/// <summary>How the export guards delegated files against local processes (<see cref="ExportOptions.LocalAccess"/>).</summary>
public enum LocalAccessPolicy
{
    /// <summary>The best the kernel has: F_SETDELEG (Linux 6.19) where it checks for conflicting opens, else F_SETLEASE plus fanotify.</summary>
    Auto,

    /// <summary>F_SETLEASE plus fanotify even where F_SETDELEG exists (for differential tests).</summary>
    Leases,

    /// <summary>No guards: local access goes unseen, and the NFS layer grants no delegations unless told the export is exclusive.</summary>
    Off,
}

/// <summary>What is exported and how callers are mapped. Every default says where it comes from.</summary>
public sealed class ExportOptions
{
    /// <summary>Name of the default state directory, made beside (never inside) the exported directory.</summary>
    public const string DefaultStateDirectoryName = ".leasehold-state";

    /// <summary>The exported directory. No default: exporting something by accident is worse than not starting.</summary>
    public string Path { get; set; } = "";

    /// <summary>
    /// Refuse every change with <see cref="FsStatus.ReadOnly"/>. Off, unlike exports(5) (whose default is ro): the
    /// default deployment is loopback, where the local user could write these files directly anyway. Turn it on for
    /// exports other machines can reach.
    /// </summary>
    public bool ReadOnly { get; set; }

    /// <summary>
    /// Map uid 0 (and gid 0) to <see cref="AnonymousUid"/>/<see cref="AnonymousGid"/>. Off: the server listens on
    /// 127.0.0.1 by default, where the client's root is this machine's root anyway. exports(5) root_squash is the
    /// thing to turn on as soon as other machines can reach the server.
    /// </summary>
    public bool RootSquash { get; set; }

    /// <summary>
    /// Make every create, link, remove and rename durable before it is answered: fsync(2) of the changed directories
    /// (both, for a rename between two), and of a new file or directory itself, whose owner and mode are set after it
    /// is made. On, as exports(5) sync (knfsd commits the same metadata). Off is exports(5) async for directory changes:
    /// faster, but a crash may lose acknowledged creates/removes/renames. Writes are not affected (FILE_SYNC, DATA_SYNC
    /// and COMMIT always reach the disk).
    /// </summary>
    public bool SyncDirectoryChanges { get; set; } = true;

    /// <summary>Uid for anonymous (AUTH_NONE) and squashed callers. 65534: "nobody", as exports(5) anonuid.</summary>
    public uint AnonymousUid { get; set; } = 65534;

    /// <summary>Gid for anonymous (AUTH_NONE) and squashed callers. 65534: "nogroup", as exports(5) anongid.</summary>
    public uint AnonymousGid { get; set; } = 65534;

    /// <summary>
    /// Where the file handle signing key lives. Null: a "<see cref="DefaultStateDirectoryName"/>" directory beside the
    /// exported directory. Never inside the export, where a client could read the key and forge handles; and it must
    /// persist, or every client's handles go bad at the next start.
    /// </summary>
    public string? StateDirectory { get; set; }

    /// <summary>
    /// How local processes are made to recall delegations: Auto (the default; the first seed wants delegations broken by
    /// anyone, local users included), Leases, or Off. See docs/architecture.md, "Local access".
    /// </summary>
    public LocalAccessPolicy LocalAccess { get; set; } = LocalAccessPolicy.Auto;

    /// <summary>
    /// The most files guarded at once, each holding one descriptor and one kernel lease. 0: half the process's
    /// RLIMIT_NOFILE soft limit, so the other half stays free for sockets and I/O. Past it, delegations are refused;
    /// NFS operations never fail for it.
    /// </summary>
    public int MaxKernelLeases { get; set; }

    /// <summary>The exported directory as a full path without a trailing slash (except for "/").</summary>
    public string FullPath => TrimSlash(System.IO.Path.GetFullPath(Path));

    /// <summary>The state directory to use: <see cref="StateDirectory"/>, or the default beside the export.</summary>
    public string ResolvedStateDirectory
    {
        get
        {
            if (!string.IsNullOrEmpty(StateDirectory))
                return TrimSlash(System.IO.Path.GetFullPath(StateDirectory));
            string? parent = System.IO.Path.GetDirectoryName(FullPath);
            if (parent is null)
                throw new InvalidOperationException("Exporting \"/\" needs an explicit StateDirectory.");
            return System.IO.Path.Join(parent, DefaultStateDirectoryName);
        }
    }

    /// <summary>Throws when the settings cannot work together. Existence of the directories is checked at start.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Path))
            throw new ArgumentException("Path (the exported directory) must be set.", nameof(Path));
        if (Path.Contains('\0', StringComparison.Ordinal))
            throw new ArgumentException("Path contains a NUL character.", nameof(Path));
        if (StateDirectory is not null && StateDirectory.Contains('\0', StringComparison.Ordinal))
            throw new ArgumentException("StateDirectory contains a NUL character.", nameof(StateDirectory));
        if (FullPath == "/" && string.IsNullOrEmpty(StateDirectory))
            throw new ArgumentException("Exporting \"/\" needs an explicit StateDirectory outside it.", nameof(StateDirectory));
        if (!Enum.IsDefined(LocalAccess))
            throw new ArgumentException($"LocalAccess {LocalAccess} is not one of {string.Join(", ", Enum.GetNames<LocalAccessPolicy>())}.", nameof(LocalAccess));
        if (MaxKernelLeases < 0)
            throw new ArgumentException($"MaxKernelLeases must not be negative (0 means half the descriptor limit), not {MaxKernelLeases}.", nameof(MaxKernelLeases));
        if (IsSameOrInside(ResolvedStateDirectory, FullPath))
            throw new ArgumentException($"StateDirectory {ResolvedStateDirectory} is inside the export {FullPath}: clients could read the handle key.", nameof(StateDirectory));
    }

    /// <summary>
    /// The caller for an AUTH_SYS identity, after squashing. As knfsd's nfsd_setuser: with root squash, uid 0 becomes
    /// the anonymous uid and gid 0 (primary or supplementary) the anonymous gid, each on its own.
    /// </summary>
    public Caller MapCaller(uint uid, uint gid, ReadOnlySpan<uint> groups)
    {
        uint[] mapped = groups.ToArray();
        if (RootSquash)
        {
            if (uid == 0)
                uid = AnonymousUid;
            if (gid == 0)
                gid = AnonymousGid;
            for (int i = 0; i < mapped.Length; i++)
            {
                if (mapped[i] == 0)
                    mapped[i] = AnonymousGid;
            }
        }
        return new Caller(uid, gid, mapped);
    }

    /// <summary>The caller for AUTH_NONE (and any flavor without a Unix identity): the anonymous uid and gid.</summary>
    public Caller MapAnonymous() => new(AnonymousUid, AnonymousGid, []);

    internal static bool IsSameOrInside(string path, string directory) =>
        directory == "/"
        || path == directory
        || path.StartsWith(directory + "/", StringComparison.Ordinal);

    private static string TrimSlash(string path) => path.Length > 1 ? path.TrimEnd('/') : path;
}
