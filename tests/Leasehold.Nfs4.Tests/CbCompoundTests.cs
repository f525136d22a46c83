using Leasehold.Nfs4.Callbacks;
using Leasehold.Nfs4.Protocol;
using Leasehold.Rpc.Xdr;
using ExportHandle = Leasehold.Export.FileHandle;

namespace Leasehold.Nfs4.Tests;

/// <summary>
/// CB_COMPOUND4args carries the session's minor version (knfsd's cl_minorversion): a 4.2 client may refuse a callback
/// of another minor version with NFS4ERR_MINOR_VERS_MISMATCH (pynfs's client does, which failed DELEG1-7 and DELEG23
/// with --minorversion=2 before). Over the wire the recall itself is covered by IntegrationTests' V42/SpaceTests.
/// </summary>
public sealed class CbCompoundTests
{
    [Theory]
    [InlineData(1u)]
    [InlineData(2u)]
    public void The_header_carries_the_minor_version_it_is_given(uint minorVersion)
    {
        var compound = new CbCompound("recall", new CbRecall(default, Truncate: false, new ExportHandle([1, 2, 3])));
        using var w = new XdrWriter(256);

        compound.Write(w, new byte[16], new CallbackSlot(0), highestSlotId: 0, minorVersion);

        var r = new XdrReader(w.WrittenSpan);
        Assert.Equal("recall", r.ReadString(64));
        Assert.Equal(minorVersion, r.ReadUInt32());
        Assert.Equal(0u, r.ReadUInt32()); // callback_ident
        Assert.Equal(2u, r.ReadUInt32()); // CB_SEQUENCE, CB_RECALL
        Assert.Equal((uint)CbOpcode.CbSequence, r.ReadUInt32());
    }
}
