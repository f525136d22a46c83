using System.Text;
using Leasehold.Nfs4.Admin;

namespace Leasehold.Nfs4.Tests;

/// <summary>How the admin views print the opaque owners of RFC 8881 §3.3.10 (client, open and lock owners).</summary>
public sealed class OwnerNamesTests
{
    [Fact]
    public void Linux_owners_read_as_their_text_and_the_binary_tail_in_hex()
    {
        Assert.Equal("Linux NFSv4.2 host", ServerAdmin.Printable(Encoding.ASCII.GetBytes("Linux NFSv4.2 host")));
        byte[] lockOwner = [.. Encoding.ASCII.GetBytes("lock id:"), 0, 0, 0, 0, 0, 0, 0, 0xa1];
        Assert.Equal("lock id:0x00000000000000a1", ServerAdmin.Printable(lockOwner));
        Assert.Equal("0102ff", ServerAdmin.Printable([1, 2, 0xff]));
        Assert.Equal("6162000a", ServerAdmin.Printable([(byte)'a', (byte)'b', 0, 0x0a])); // too short a prefix to be a name
        Assert.Equal("", ServerAdmin.Printable([]));
    }
}
