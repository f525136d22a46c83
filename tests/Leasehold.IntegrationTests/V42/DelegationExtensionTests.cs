using Leasehold.IntegrationTests.Delegations;
using Leasehold.Nfs4.Client;
using Leasehold.Nfs4.Client.Callbacks;

namespace Leasehold.IntegrationTests.V42;

/// <summary>
/// RFC 9754 ("Extensions for Opening and Delegating Files in NFSv4.2") over minor version 2: the open_arguments
/// attribute, OPEN_XOR_DELEGATION, and delegated timestamps (*_ATTRS_DELEG delegations whose holder reports its times in
/// CB_GETATTR and sets them with SETATTR of time_deleg_access / time_deleg_modify). Minor version 1 sees none of it.
/// </summary>
public sealed class DelegationExtensionTests(CbGetAttrServerFixture fx) : IClassFixture<CbGetAttrServerFixture>
{
    private static readonly AttrBitmap Watched = AttrBitmap.Of(FileAttr.Change, FileAttr.Size, FileAttr.TimeAccess, FileAttr.TimeModify);

    /// <summary>Times well in the past, so reports after them are neither ignored nor clamped to the server's now.</summary>
    private static readonly NfsTime Original = new(1_600_000_000, 0);

    /// <summary>A minor version 2 client with a back channel whose callbacks the test watches and answers.</summary>
    private async Task<DelegationClient> ConnectAsync(uint minorVersion = 2)
    {
        var handler = new RecordingCallbackHandler();
        var session = await fx.ConnectAsync(options: new Nfs4SessionOptions { CallbackHandler = handler, MinorVersion = minorVersion });
        return new DelegationClient(session, handler);
    }

    /// <summary>A new file holding "hello" whose access and modify times are <see cref="Original"/>.</summary>
    private async Task<(FileHandle Root, string Name, FileHandle File)> OldFileAsync()
    {
        var (root, name, file) = await DelegationClient.NewFileAsync(fx, "rfc9754");
        var set = await fx.Session.SetAttrAsync(file, new SetAttributes { TimeAccess = new NfsTimeSet(Original), TimeModify = new NfsTimeSet(Original) }).Bounded();
        Assert.Equal(NfsStat4.Ok, set.Status);
        return (root, name, file);
    }

    private static async Task<OpenedFile> OpenAsync(DelegationClient client, FileHandle root, string name, ShareAccess access)
    {
        var opened = await client.Session.OpenAsync(root, name, access, attrs: Watched).Bounded();
        return opened.ValueOrThrow();
    }

    [Fact]
    public async Task Open_arguments_lists_what_OPEN_supports_and_the_three_attributes_are_supported()
    {
        await using var client = await ConnectAsync();
        var root = (await client.Session.LookupPathAsync("").Bounded()).ValueOrThrow();

        var attrs = (await client.Session.GetAttrAsync(root, AttrBitmap.Of(FileAttr.SupportedAttrs, FileAttr.OpenArguments)).Bounded()).ValueOrThrow();

        Assert.True(attrs.SupportedAttrs!.Contains(FileAttr.TimeDelegAccess));
        Assert.True(attrs.SupportedAttrs.Contains(FileAttr.TimeDelegModify));
        Assert.True(attrs.SupportedAttrs.Contains(FileAttr.OpenArguments));
        var args = attrs.OpenArguments!;
        Assert.Equal([0b1110u], args.ShareAccess.Words.ToArray());   // READ, WRITE, BOTH
        Assert.Equal([0b1111u], args.ShareDeny.Words.ToArray());     // NONE, READ, WRITE, BOTH
        Assert.Equal([(1u << 3) | (1u << 4) | (1u << 5) | (1u << 20) | (1u << 21)], args.ShareAccessWant.Words.ToArray());
        Assert.Equal([0x7Fu], args.OpenClaim.Words.ToArray());       // every claim, NULL to DELEG_PREV_FH
        Assert.Equal([0b1111u], args.CreateMode.Words.ToArray());    // UNCHECKED4, GUARDED4, EXCLUSIVE4, EXCLUSIVE4_1
    }

    [Fact]
    public async Task A_minor_version_1_client_sees_none_of_it()
    {
        await using var client = await ConnectAsync(minorVersion: 1);
        var (root, name, file) = await OldFileAsync();

        var attrs = (await client.Session.GetAttrAsync(file, AttrBitmap.Of(FileAttr.SupportedAttrs, FileAttr.Size, FileAttr.OpenArguments)).Bounded()).ValueOrThrow();
        var xor = await client.Session.OpenAsync(root, name, ShareAccess.Read | ShareAccess.WantOpenXorDelegation).Bounded();
        var timestamps = await client.Session.OpenAsync(root, name, ShareAccess.Read | ShareAccess.WantDelegTimestamps).Bounded();
        var set = await client.Session.SetAttrAsync(file, new SetAttributes { TimeDelegModify = new NfsTime(1_700_000_000, 0) }).Bounded();

        Assert.False(attrs.SupportedAttrs!.Contains(FileAttr.TimeDelegAccess));
        Assert.False(attrs.SupportedAttrs.Contains(FileAttr.TimeDelegModify));
        Assert.False(attrs.SupportedAttrs.Contains(FileAttr.OpenArguments));
        Assert.Equal([FileAttr.SupportedAttrs, FileAttr.Size], attrs.Present.ToArray()); // an unsupported attribute is left out
        Assert.Equal(NfsStat4.BadXdr, xor.Status); // share_access bits 4.1 does not define (knfsd: the same)
        Assert.Equal(NfsStat4.BadXdr, timestamps.Status);
        Assert.Equal(NfsStat4.AttrNotSupp, set.Status);
    }

    [Fact]
    public async Task OPEN_XOR_DELEGATION_returns_the_delegation_and_no_open_stateid_and_leaves_no_open_behind()
    {
        var (root, name, file) = await OldFileAsync();
        await using var holder = await ConnectAsync();

        var opened = await OpenAsync(holder, root, name, ShareAccess.Both | ShareAccess.WantWriteDelegation | ShareAccess.WantOpenXorDelegation);
        var delegation = opened.Delegation.StateId;
        var wrote = await holder.Session.WriteAsync(file, delegation, 0, ServerFixture.Bytes("HELLO, world")).Bounded();
        var read = (await holder.Session.ReadAsync(file, delegation, 0, 100).Bounded()).ValueOrThrow();
        var returned = await holder.Session.DelegReturnAsync(file, delegation).Bounded();

        Assert.Equal(DelegationType.Write, opened.Delegation.Type);
        Assert.Equal(default, opened.StateId); // all zeros
        Assert.True((opened.ResultFlags & (uint)OpenResultFlags.NoOpenStateId) != 0);
        Assert.Equal(NfsStat4.Ok, wrote.Status);
        Assert.Equal("HELLO, world", System.Text.Encoding.UTF8.GetString(read.Data.Span));
        Assert.Equal(NfsStat4.Ok, returned);
        // No CLOSE was sent, and none is needed: the holder's open went when the OPEN answered, so nothing of it denies
        // another client's exclusive open (an open left behind would answer SHARE_DENIED), and nothing is recalled.
        await using var other = await ConnectAsync();
        var exclusive = await other.Session.OpenAsync(root, name, ShareAccess.Both | ShareAccess.WantNoDelegation, deny: ShareDeny.Both).Bounded();
        Assert.Equal(NfsStat4.Ok, exclusive.Status);
        Assert.False(holder.Handler.Recalls.TryRead(out _));
    }

    [Fact]
    public async Task OPEN_XOR_DELEGATION_without_a_delegation_is_an_ordinary_open()
    {
        var (root, name, file) = await OldFileAsync();
        await using var client = await ConnectAsync();

        var opened = await OpenAsync(client, root, name, ShareAccess.Read | ShareAccess.WantNoDelegation | ShareAccess.WantOpenXorDelegation);

        Assert.Equal(DelegationType.NoneExt, opened.Delegation.Type);
        Assert.NotEqual(default, opened.StateId);
        Assert.Equal(0u, opened.ResultFlags & (uint)OpenResultFlags.NoOpenStateId);
        Assert.Equal(NfsStat4.Ok, (await client.Session.CloseAsync(file, opened.StateId).Bounded()).Status);
    }

    [Fact]
    public async Task Another_clients_GETATTR_asks_the_holder_of_delegated_timestamps_and_reports_its_times_size_and_change()
    {
        var (root, name, file) = await OldFileAsync();
        await using var holder = await ConnectAsync();
        var opened = await OpenAsync(holder, root, name, ShareAccess.Both | ShareAccess.WantWriteDelegation | ShareAccess.WantDelegTimestamps);
        ulong change = opened.Attributes!.Change!.Value;
        var accessed = new NfsTime(Original.Seconds + 100, 7);
        var modified = new NfsTime(Original.Seconds + 200, 9);
        holder.Handler.GetAttrAnswer = (_, _) => ValueTask.FromResult(
            CbGetAttrAnswer.Attributes(change + 1, 4096) with { TimeDelegAccess = accessed, TimeDelegModify = modified });
        await using var other = await ConnectAsync();

        var seen = (await other.Session.GetAttrAsync(file, Watched).Bounded()).ValueOrThrow();
        var asked = await holder.NextGetAttrAsync();
        var own = (await holder.Session.GetAttrAsync(file, Watched).Bounded()).ValueOrThrow();

        Assert.Equal(DelegationType.WriteAttrsDeleg, opened.Delegation.Type);
        Assert.Equal(Original, opened.Attributes.TimeModify);
        Assert.Equal([FileAttr.Change, FileAttr.Size, FileAttr.TimeDelegAccess, FileAttr.TimeDelegModify], asked.Mask.ToArray());
        Assert.Equal(4096ul, seen.Size);
        Assert.NotEqual(change, seen.Change);
        Assert.Equal(accessed, seen.TimeAccess);
        Assert.Equal(modified, seen.TimeModify);
        // The file itself is untouched until the holder sets its times: the holder (asked nothing) sees the server's.
        Assert.Equal((5ul, Original, Original), (own.Size, own.TimeAccess, own.TimeModify));
        Assert.Equal(NfsStat4.Ok, await holder.Session.DelegReturnAsync(file, opened.Delegation.StateId).Bounded());
    }

    [Fact]
    public async Task Reported_times_before_the_grant_are_ignored_and_times_in_the_future_are_clamped_to_now()
    {
        var (root, name, file) = await OldFileAsync();
        await using var holder = await ConnectAsync();
        var opened = await OpenAsync(holder, root, name, ShareAccess.Both | ShareAccess.WantWriteDelegation | ShareAccess.WantDelegTimestamps);
        ulong change = opened.Attributes!.Change!.Value;
        holder.Handler.GetAttrAnswer = (_, _) => ValueTask.FromResult(CbGetAttrAnswer.Attributes(change, 5) with
        {
            TimeDelegAccess = new NfsTime(Original.Seconds - 1, 0),      // before the time at grant: ignored
            TimeDelegModify = new NfsTime(4_000_000_000, 0),            // year 2096: clamped to the server's now
        });
        await using var other = await ConnectAsync();
        long before = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

        var seen = (await other.Session.GetAttrAsync(file, Watched).Bounded()).ValueOrThrow();

        long after = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        Assert.Equal(Original, seen.TimeAccess);
        Assert.InRange(seen.TimeModify!.Value.Seconds, before, after);
        Assert.Equal((change, 5ul), (seen.Change, seen.Size)); // no data modified: the server's change and size stand
        Assert.Equal(NfsStat4.Ok, await holder.Session.DelegReturnAsync(file, opened.Delegation.StateId).Bounded());
    }

    [Fact]
    public async Task The_holders_SETATTR_of_time_deleg_modify_is_applied_but_not_before_the_time_at_grant()
    {
        var (root, name, file) = await OldFileAsync();
        await using var holder = await ConnectAsync();
        var opened = await OpenAsync(holder, root, name, ShareAccess.Both | ShareAccess.WantWriteDelegation | ShareAccess.WantDelegTimestamps);
        var delegation = opened.Delegation.StateId;
        var later = new NfsTime(Original.Seconds + 1000, 123);

        var set = await holder.Session.SetAttrAsync(file, new SetAttributes { TimeDelegModify = later, TimeDelegAccess = later }, delegation).Bounded();
        var afterSet = (await holder.Session.GetAttrAsync(file, Watched).Bounded()).ValueOrThrow();
        var backwards = await holder.Session.SetAttrAsync(file, new SetAttributes { TimeDelegModify = new NfsTime(Original.Seconds - 1000, 0) }, delegation).Bounded();
        var afterBackwards = (await holder.Session.GetAttrAsync(file, Watched).Bounded()).ValueOrThrow();

        Assert.Equal(NfsStat4.Ok, set.Status);
        Assert.Equal((later, later), (afterSet.TimeAccess, afterSet.TimeModify));
        Assert.Equal(NfsStat4.Ok, backwards.Status); // RFC 9754 §5: an update before the original time is ignored, not refused
        Assert.Equal(later, afterBackwards.TimeModify);
        Assert.False(holder.Handler.Recalls.TryRead(out _)); // the holder's own change never recalls its delegation
        Assert.Equal(NfsStat4.Ok, await holder.Session.DelegReturnAsync(file, delegation).Bounded());
    }

    [Fact]
    public async Task A_read_delegation_with_delegated_timestamps_sets_the_access_time_only()
    {
        var (root, name, file) = await OldFileAsync();
        await using var holder = await ConnectAsync();
        var opened = await OpenAsync(holder, root, name, ShareAccess.Read | ShareAccess.WantReadDelegation | ShareAccess.WantDelegTimestamps);
        var delegation = opened.Delegation.StateId;
        var later = new NfsTime(Original.Seconds + 60, 0);

        var access = await holder.Session.SetAttrAsync(file, new SetAttributes { TimeDelegAccess = later }, delegation).Bounded();
        var modify = await holder.Session.SetAttrAsync(file, new SetAttributes { TimeDelegModify = later }, delegation).Bounded();
        var now = (await holder.Session.GetAttrAsync(file, Watched).Bounded()).ValueOrThrow();

        Assert.Equal(DelegationType.ReadAttrsDeleg, opened.Delegation.Type);
        Assert.Equal(NfsStat4.Ok, access.Status);
        Assert.Equal(NfsStat4.OpenMode, modify.Status); // a read delegation delegates the access time only
        Assert.Equal((later, Original), (now.TimeAccess, now.TimeModify));
        Assert.Equal(NfsStat4.Ok, await holder.Session.DelegReturnAsync(file, delegation).Bounded());
        Assert.Equal(NfsStat4.Ok, (await holder.Session.CloseAsync(file, opened.StateId).Bounded()).Status);
    }

    [Fact]
    public async Task Only_the_holder_of_delegated_timestamps_sets_them_and_GETATTR_cannot_read_them()
    {
        var (root, name, file) = await OldFileAsync();
        await using var holder = await ConnectAsync();
        var plain = await OpenAsync(holder, root, name, ShareAccess.Both | ShareAccess.WantWriteDelegation);
        var times = new SetAttributes { TimeDelegModify = new NfsTime(Original.Seconds + 10, 0) };

        var withPlainDelegation = await holder.Session.SetAttrAsync(file, times, plain.Delegation.StateId).Bounded();
        var withOpen = await holder.Session.SetAttrAsync(file, times, plain.StateId).Bounded();
        var anonymous = await holder.Session.SetAttrAsync(file, times).Bounded();
        var read = await holder.Session.GetAttrAsync(file, AttrBitmap.Of(FileAttr.Size, FileAttr.TimeDelegModify)).Bounded();

        Assert.Equal(DelegationType.Write, plain.Delegation.Type);
        Assert.Equal(NfsStat4.BadStateId, withPlainDelegation.Status);
        Assert.Equal(NfsStat4.BadStateId, withOpen.Status);
        Assert.Equal(NfsStat4.BadStateId, anonymous.Status);
        Assert.Equal(NfsStat4.Inval, read.Status);
        Assert.Equal(Original, (await holder.Session.GetAttrAsync(file, Watched).Bounded()).ValueOrThrow().TimeModify);
        Assert.Equal(NfsStat4.Ok, await holder.Session.DelegReturnAsync(file, plain.Delegation.StateId).Bounded());
    }

    [Fact]
    public async Task A_recalled_holder_sets_its_times_in_the_DELEGRETURN_compound()
    {
        var (root, name, file) = await OldFileAsync();
        await using var holder = await ConnectAsync();
        var opened = await OpenAsync(holder, root, name, ShareAccess.Both | ShareAccess.WantWriteDelegation | ShareAccess.WantDelegTimestamps);
        var delegation = opened.Delegation.StateId;
        await using var other = await ConnectAsync();
        var modified = new NfsTime(Original.Seconds + 5000, 42);

        var conflicting = await other.Session.OpenAsync(root, name, ShareAccess.Write).Bounded();
        var recall = await holder.NextRecallAsync();
        using var back = new CompoundBuilder("setattr_delegreturn").PutFh(file)
            .SetAttr(new SetAttributes { TimeDelegModify = modified }, delegation).DelegReturn(delegation);
        var returned = await holder.Session.CompoundAsync(back).Bounded();
        var reopened = await DelegationClient.RetryWhileDelayAsync(async () => (await other.Session.OpenAsync(root, name, ShareAccess.Write)).Status);

        Assert.Equal(NfsStat4.Delay, conflicting.Status);
        Assert.Equal(delegation, recall.StateId);
        Assert.Equal(NfsStat4.Ok, returned.Status);
        Assert.Equal(NfsStat4.Ok, reopened);
        Assert.Equal(modified, (await other.Session.GetAttrAsync(file, Watched).Bounded()).ValueOrThrow().TimeModify);
    }
}
