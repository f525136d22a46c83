namespace Leasehold.Engine;

/// <summary>What a grant protects, which decides what breaks it (see <see cref="ConflictRules"/>).</summary>
public enum GrantKind : byte
{
    /// <summary>A Linux-style file lease: broken by conflicting opens and truncation.</summary>
    Lease,

    /// <summary>A lease that is also broken by attribute changes, link, unlink and rename (an NFSv4 delegation).</summary>
    Delegation,

    /// <summary>Guards the file's block layout: broken only by operations that change the layout.</summary>
    Layout,
}

/// <summary>
/// The strength of a grant. Leases and delegations are <see cref="Read"/> or <see cref="Write"/>;
/// layouts are <see cref="Shared"/> or <see cref="Exclusive"/>.
/// </summary>
public enum GrantMode : byte
{
    Read,
    Write,
    Shared,
    Exclusive,
}

/// <summary>Where a grant is in its life. Granted → Breaking → (downgraded to Active | Released | Revoked).</summary>
public enum GrantState : byte
{
    /// <summary>Held, and nobody has asked for it back.</summary>
    Active,

    /// <summary>A break was sent; the holder must downgrade or release it before the deadline.</summary>
    Breaking,

    /// <summary>
    /// The deadline passed (or the break time was zero) and the engine took the grant back. It no longer
    /// conflicts with anything, but stays visible until its holder releases it, as a revoked NFS
    /// delegation stays until the client frees its stateid.
    /// </summary>
    Revoked,

    /// <summary>The holder released it; the handle is dead.</summary>
    Released,
}

/// <summary>What a break asks of a holder.</summary>
public enum BreakTarget : byte
{
    None,

    /// <summary>Keep a weaker grant: a write lease becomes a read lease.</summary>
    Downgrade,

    /// <summary>Give the grant up.</summary>
    Revoke,
}

/// <summary>The operations that can break grants. Each carries the breaker's identity.</summary>
public enum FileOperation : byte
{
    OpenRead,
    OpenWrite,
    Truncate,
    SetAttributes,
    Link,
    Unlink,
    Rename,

    /// <summary>A change to the block layout that is not a truncate: hole punch, fallocate, remap (reflink, dedupe).</summary>
    LayoutChange,

    /// <summary>
    /// A change to both the block layout and the data or size a client may cache: NFSv4.2 ALLOCATE, DEALLOCATE (a hole
    /// punch) and CLONE onto a file (RFC 7862 §15.1, §15.4, §15.13), fallocate(2). Breaks what <see cref="Truncate"/>
    /// breaks: every other owner's lease and delegation, and layouts (Busy on an exclusive one).
    /// </summary>
    SpaceChange,
}

/// <summary>Access of an open, as registered with the engine.</summary>
[Flags]
public enum OpenAccess : byte
{
    Read = 1,
    Write = 2,
    ReadWrite = Read | Write,
}

/// <summary>How a breaker deals with conflicts.</summary>
public enum BreakMode : byte
{
    /// <summary>Start the break and return <see cref="BreakStatus.WouldBlock"/> at once (NFS4ERR_DELAY).</summary>
    NonBlocking,

    /// <summary>Start the break and return an awaitable that completes when the conflicts are gone.</summary>
    Await,
}
