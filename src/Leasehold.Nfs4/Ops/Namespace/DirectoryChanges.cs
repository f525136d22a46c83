using System.Collections.Concurrent;
using Leasehold.Export;

namespace Leasehold.Nfs4.Ops;

/// <summary>
/// Knows which directories this server is changing right now, so that a change_info4 can say <c>atomic</c> (RFC 8881
/// §3.3.6) when its before and after values bracket this one change and no other change this server made. A Linux
/// client that gets <c>atomic = FALSE</c>, or a <c>before</c> other than the change attribute it caches, drops the
/// directory's cached entries, lookups and access results after every CREATE, OPEN(create), REMOVE, RENAME and LINK,
/// and asks again: an ACCESS and GETATTR of the directory and a LOOKUP per name it touches next.
/// </summary>
/// <remarks>
/// <para>Nothing waits here: an operation opens a <see cref="Scope"/> before it reads the directory's <c>before</c> value
/// and closes it after reading <c>after</c>; the scope is alone when no other scope on the same directory was open at
/// any moment between the two.</para>
/// <para>Changes made by local processes cannot be seen: unlike knfsd, which holds the directory's inode lock across the
/// operation, a userspace server cannot keep them out of that window, and a client told <c>atomic</c> would keep a
/// listing missing a local change until the directory changed again. So atomic is claimed only when the operator
/// promised that nothing else touches the export (<c>Nfs4:Delegations = ExclusiveExport</c>); otherwise every
/// change_info4 says not atomic, as NFS-Ganesha's do.</para>
/// </remarks>
internal sealed class DirectoryChanges(bool exportIsExclusive)
{
    private readonly ConcurrentDictionary<FileHandle, Entry> _open = new();

    /// <summary>Whether nothing but this server changes the export, so that a scope alone may be called atomic.</summary>
    public bool ExportIsExclusive => exportIsExclusive;

    /// <summary>Opens a scope on <paramref name="dir"/>; read the directory's <c>before</c> value after this.</summary>
    public Scope Begin(FileHandle dir)
    {
        while (true)
        {
            var entry = _open.GetOrAdd(dir, static _ => new Entry());
            lock (entry)
            {
                if (entry.Removed)
                    continue; // closed and dropped between GetOrAdd and the lock: take a fresh one
                entry.Active++;
                entry.Epoch++;
                if (entry.Active > 1)
                    entry.Shared = entry.Epoch; // every scope open now overlaps another
                return new Scope(this, dir, entry, entry.Epoch);
            }
        }
    }

    private bool End(FileHandle dir, Entry entry, long started)
    {
        lock (entry)
        {
            bool alone = entry.Shared < started && entry.Epoch == started;
            if (--entry.Active == 0)
            {
                entry.Removed = true;
                _open.TryRemove(new KeyValuePair<FileHandle, Entry>(dir, entry));
            }
            return alone;
        }
    }

    internal sealed class Entry
    {
        public int Active;
        public long Epoch;
        public long Shared;
        public bool Removed;
    }

    /// <summary>One operation's change of one directory; disposing it closes it.</summary>
    public sealed class Scope(DirectoryChanges owner, FileHandle dir, Entry entry, long started) : IDisposable
    {
        private bool? _alone;

        /// <summary>Closes the scope (once; later calls repeat the answer): true when no other change of the directory
        /// by this server overlapped it and the export is exclusive to this server.</summary>
        public bool End() => _alone ??= owner.End(dir, entry, started) && owner.ExportIsExclusive;

        public void Dispose() => End();
    }
}
