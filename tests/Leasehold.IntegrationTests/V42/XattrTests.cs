using System.Runtime.InteropServices;
using System.Text;
using Leasehold.Nfs4.Client;
using Leasehold.Nfs4.Client.Callbacks;
using Leasehold.Nfs4.Client.Rpc;
using Leasehold.Rpc.Messages;

namespace Leasehold.IntegrationTests.V42;

/// <summary>The user.* extended attributes of files on the export's disk, read and written by this (root) process.</summary>
internal static partial class DiskXattrs
{
    [LibraryImport("libc", EntryPoint = "getxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint GetXattr(string path, string name, [Out] byte[] value, nuint size);

    [LibraryImport("libc", EntryPoint = "setxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetXattr(string path, string name, byte[] value, nuint size, int flags);

    /// <summary>The value of <paramref name="fullName"/> on <paramref name="path"/>, or null when it has none.</summary>
    public static string? Get(string path, string fullName)
    {
        byte[] value = new byte[4096];
        nint length = GetXattr(path, fullName, value, (nuint)value.Length);
        return length < 0 ? null : Encoding.UTF8.GetString(value, 0, (int)length);
    }

    public static void Set(string path, string fullName, string value)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(value);
        Assert.Equal(0, SetXattr(path, fullName, bytes, (nuint)bytes.Length, 0));
    }
}

/// <summary>
/// RFC 8276 extended attributes over real RPC in NFSv4.2 COMPOUNDs: GETXATTR, SETXATTR, LISTXATTRS (paged by cookie),
/// REMOVEXATTR; their errors (EXIST, NOXATTR, XATTR2BIG, TOOSMALL, BADCOOKIE, ACCESS); and the delegations a change
/// recalls (another client's, never the changer's own; reading recalls nothing).
/// </summary>
public sealed class XattrTests(ServerFixture fx) : IClassFixture<ServerFixture>, IAsyncLifetime
{
    private Nfs4Session _s = null!;

    public async Task InitializeAsync() => _s = await ConnectAsync();

    public async Task DisposeAsync() => await _s.DisposeAsync();

    private Task<Nfs4Session> ConnectAsync(RpcCredentials? credentials = null, INfs4CallbackHandler? handler = null, uint maxMessageSize = 1024 * 1024 + 8 * 1024) =>
        fx.ConnectAsync(credentials, new Nfs4SessionOptions
        {
            MinorVersion = 2,
            BackChannel = handler is not null,
            CallbackHandler = handler,
            MaxMessageSize = maxMessageSize,
        });

    /// <summary>A new file holding "hello", made and closed by the fixture's root session (which holds no delegation).</summary>
    private async Task<(FileHandle Root, string Name, FileHandle File)> NewFileAsync()
    {
        var root = await fx.RootAsync();
        string name = ServerFixture.NewName("xattr");
        var made = (await fx.Session.CreateAsync(root, name).Bounded()).ValueOrThrow();
        Assert.Equal(NfsStat4.Ok, (await fx.Session.WriteAsync(made.FileHandle, made.StateId, 0, ServerFixture.Bytes("hello")).Bounded()).Status);
        Assert.Equal(NfsStat4.Ok, (await fx.Session.CloseAsync(made.FileHandle, made.StateId).Bounded()).Status);
        return (root, name, made.FileHandle);
    }

    private static Task<CompoundReply> OnAsync(Nfs4Session s, FileHandle file, Func<CompoundBuilder, CompoundBuilder> op) =>
        s.CompoundAsync(op(new CompoundBuilder().PutFh(file))).Bounded();

    private static async Task<NfsStat4> SetAsync(Nfs4Session s, FileHandle file, string name, string value, SetXattrOption option = SetXattrOption.Either) =>
        (await OnAsync(s, file, c => c.SetXattr(name, Encoding.UTF8.GetBytes(value), option))).Status;

    private static async Task<GetXattrResult> GetAsync(Nfs4Session s, FileHandle file, string name) =>
        (await OnAsync(s, file, c => c.GetXattr(name))).Get<GetXattrResult>();

    private static async Task<ListXattrsResult> ListAsync(Nfs4Session s, FileHandle file, ulong cookie, uint maxCount) =>
        (await OnAsync(s, file, c => c.ListXattrs(cookie, maxCount))).Get<ListXattrsResult>();

    private static async Task<NfsStat4> RemoveAsync(Nfs4Session s, FileHandle file, string name) =>
        (await OnAsync(s, file, c => c.RemoveXattr(name))).Status;

    private static async Task<CbRecallEvent> NextRecallAsync(RecordingCallbackHandler handler)
    {
        using var timeout = new CancellationTokenSource(Waits.Timeout);
        return await handler.Recalls.ReadAsync(timeout.Token);
    }

    [Fact]
    public async Task An_attribute_is_set_read_listed_and_removed_and_each_change_moves_the_files_change()
    {
        var (_, name, file) = await NewFileAsync();
        string path = Path.Join(fx.ExportPath, name);

        var set = (await OnAsync(_s, file, c => c.SetXattr("colour", "blue"u8, SetXattrOption.Create))).Get<ChangeInfoResult>();
        Assert.Equal(NfsStat4.Ok, set.Status);
        Assert.Equal(NfsOpcode.SetXattr, set.Operation);
        Assert.NotEqual(set.ChangeInfo.Before, set.ChangeInfo.After);
        Assert.Equal("blue", DiskXattrs.Get(path, "user.colour")); // the server adds the namespace

        var got = await GetAsync(_s, file, "colour");
        Assert.Equal(NfsStat4.Ok, got.Status);
        Assert.Equal("blue", Encoding.UTF8.GetString(got.Value));
        var listed = await ListAsync(_s, file, 0, 8192);
        Assert.Equal(["colour"], listed.Names);
        Assert.True(listed.Eof);

        var removed = (await OnAsync(_s, file, c => c.RemoveXattr("colour"))).Get<ChangeInfoResult>();
        Assert.Equal(NfsStat4.Ok, removed.Status);
        Assert.Equal(set.ChangeInfo.After, removed.ChangeInfo.Before);
        Assert.NotEqual(removed.ChangeInfo.Before, removed.ChangeInfo.After);
        Assert.Null(DiskXattrs.Get(path, "user.colour"));
        Assert.Equal(NfsStat4.NoXattr, (await GetAsync(_s, file, "colour")).Status);
    }

    [Fact]
    public async Task Listing_pages_by_cookie_within_maxcount()
    {
        var (_, _, file) = await NewFileAsync();
        foreach (string name in new[] { "e", "bb", "a", "dddd", "ccc" })
            Assert.Equal(NfsStat4.Ok, await SetAsync(_s, file, name, "v"));

        // maxcount covers LISTXATTRS4resok: cookie, count and eof (16 bytes), then 8 bytes for each of these names.
        var first = await ListAsync(_s, file, 0, 16 + 2 * 8);
        Assert.Equal(["a", "bb"], first.Names);
        Assert.False(first.Eof);
        var second = await ListAsync(_s, file, first.Cookie, 16 + 2 * 8);
        Assert.Equal(["ccc", "dddd"], second.Names);
        Assert.False(second.Eof);
        var last = await ListAsync(_s, file, second.Cookie, 16 + 2 * 8);
        Assert.Equal(["e"], last.Names);
        Assert.True(last.Eof);

        Assert.Equal(NfsStat4.TooSmall, (await ListAsync(_s, file, 0, 16 + 7)).Status);
        Assert.Equal(NfsStat4.TooSmall, (await ListAsync(_s, file, 0, 8)).Status);
        Assert.Equal(NfsStat4.BadCookie, (await ListAsync(_s, file, 99, 8192)).Status);
    }

    [Fact]
    public async Task A_file_without_attributes_lists_an_empty_ended_list()
    {
        var (_, _, file) = await NewFileAsync();

        var listed = await ListAsync(_s, file, 0, 8192);

        Assert.Equal(NfsStat4.Ok, listed.Status);
        Assert.Empty(listed.Names);
        Assert.True(listed.Eof);
    }

    [Fact]
    public async Task Create_on_an_existing_name_is_EXIST_and_replace_or_remove_of_a_missing_one_NOXATTR()
    {
        var (_, _, file) = await NewFileAsync();

        Assert.Equal(NfsStat4.NoXattr, await SetAsync(_s, file, "k", "v", SetXattrOption.Replace));
        Assert.Equal(NfsStat4.NoXattr, await RemoveAsync(_s, file, "k"));
        Assert.Equal(NfsStat4.NoXattr, (await GetAsync(_s, file, "k")).Status);
        Assert.Equal(NfsStat4.Ok, await SetAsync(_s, file, "k", "v1", SetXattrOption.Create));
        Assert.Equal(NfsStat4.Exist, await SetAsync(_s, file, "k", "v2", SetXattrOption.Create));
        Assert.Equal(NfsStat4.Ok, await SetAsync(_s, file, "k", "v3", SetXattrOption.Replace));
        Assert.Equal("v3", Encoding.UTF8.GetString((await GetAsync(_s, file, "k")).Value));
        Assert.Equal(NfsStat4.Inval, (await OnAsync(_s, file, c => c.SetXattr("k"u8, "v"u8, 3))).Status);
    }

    [Fact]
    public async Task Bad_names_and_a_missing_filehandle_are_refused()
    {
        var (_, _, file) = await NewFileAsync();

        Assert.Equal(NfsStat4.Inval, (await OnAsync(_s, file, c => c.GetXattr(ReadOnlySpan<byte>.Empty))).Status);
        Assert.Equal(NfsStat4.BadChar, (await OnAsync(_s, file, c => c.GetXattr("a\0b"u8))).Status);
        Assert.Equal(NfsStat4.Inval, (await OnAsync(_s, file, c => c.GetXattr([0xff, 0xfe]))).Status);
        Assert.Equal(NfsStat4.NameTooLong, await SetAsync(_s, file, new string('n', 251), "v")); // "user." + 251 > 255
        Assert.Equal(NfsStat4.Ok, await SetAsync(_s, file, new string('n', 250), "v"));
        Assert.Equal(NfsStat4.NoFileHandle, (await _s.CompoundAsync(new CompoundBuilder().GetXattr("k")).Bounded()).Status);
    }

    [Fact]
    public async Task Directories_carry_attributes_and_a_symlink_is_WRONG_TYPE()
    {
        var root = await fx.RootAsync();
        string dirName = ServerFixture.NewName("xattr-dir");
        var dir = (await fx.Session.MkdirAsync(root, dirName).Bounded()).ValueOrThrow();
        string linkName = ServerFixture.NewName("xattr-link");
        var link = (await fx.Session.SymlinkAsync(root, linkName, "target").Bounded()).ValueOrThrow();

        Assert.Equal(NfsStat4.Ok, await SetAsync(_s, dir, "k", "dir"));
        Assert.Equal("dir", DiskXattrs.Get(Path.Join(fx.ExportPath, dirName), "user.k"));
        Assert.Equal(NfsStat4.WrongType, await SetAsync(_s, link, "k", "v"));
        Assert.Equal(NfsStat4.WrongType, (await GetAsync(_s, link, "k")).Status);
    }

    [Fact]
    public async Task A_value_over_64_KiB_is_XATTR2BIG()
    {
        var (_, name, file) = await NewFileAsync();

        var reply = await OnAsync(_s, file, c => c.SetXattr("big", new byte[65537]));

        Assert.Equal(NfsStat4.Xattr2Big, reply.Status);
        Assert.Null(DiskXattrs.Get(Path.Join(fx.ExportPath, name), "user.big"));
    }

    [Fact]
    public async Task A_value_larger_than_the_sessions_reply_is_XATTR2BIG()
    {
        var (_, _, file) = await NewFileAsync();
        Assert.Equal(NfsStat4.Ok, (await OnAsync(_s, file, c => c.SetXattr("wide", new byte[3000]))).Status);
        await using var small = await ConnectAsync(maxMessageSize: 2048);

        Assert.Equal(NfsStat4.Xattr2Big, (await GetAsync(small, file, "wide")).Status);
        Assert.Equal(3000, (await GetAsync(_s, file, "wide")).Value.Length);
    }

    [Fact]
    public async Task Another_user_reads_and_lists_but_without_write_permission_cannot_change()
    {
        var (_, name, file) = await NewFileAsync(); // root's, 0644 as the client library creates it
        File.SetUnixFileMode(Path.Join(fx.ExportPath, name), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        Assert.Equal(NfsStat4.Ok, await SetAsync(_s, file, "k", "root's"));
        await using var user = await ConnectAsync(RpcAuth.Sys(2000, 2000));

        Assert.Equal("root's", Encoding.UTF8.GetString((await GetAsync(user, file, "k")).Value));
        Assert.Equal(["k"], (await ListAsync(user, file, 0, 8192)).Names);
        Assert.Equal(NfsStat4.Access, await SetAsync(user, file, "k", "mine"));
        Assert.Equal(NfsStat4.Access, await RemoveAsync(user, file, "k"));
        Assert.Equal("root's", DiskXattrs.Get(Path.Join(fx.ExportPath, name), "user.k"));
    }

    // RFC 8276 §8.5: ACCESS4_XAREAD, ACCESS4_XAWRITE, ACCESS4_XALIST.
    private const AccessBits XaRead = (AccessBits)0x40, XaWrite = (AccessBits)0x80, XaList = (AccessBits)0x100;

    [Fact]
    public async Task ACCESS_in_4_2_answers_the_xattr_bits_as_the_operations_decide_and_4_1_refuses_them()
    {
        var (_, name, file) = await NewFileAsync();
        File.SetUnixFileMode(Path.Join(fx.ExportPath, name), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        await using var user = await ConnectAsync(RpcAuth.Sys(2000, 2000));
        var all = AccessBits.Read | XaRead | XaWrite | XaList;

        var asUser = (await user.AccessAsync(file, all).Bounded()).ValueOrThrow();
        var asRoot = (await _s.AccessAsync(file, all).Bounded()).ValueOrThrow();

        Assert.Equal(all, asUser.Supported);
        Assert.Equal(AccessBits.Read | XaRead | XaList, asUser.Access);
        Assert.Equal(all, asRoot.Access);
        Assert.Equal(NfsStat4.Inval, (await fx.Session.AccessAsync(file, AccessBits.Read | XaRead).Bounded()).Status); // 4.1
    }

    [Fact]
    public async Task A_SETXATTR_by_another_client_recalls_a_read_delegation_and_is_delayed_until_DELEGRETURN()
    {
        var (root, name, file) = await NewFileAsync();
        var holderCallbacks = new RecordingCallbackHandler();
        await using var a = await ConnectAsync(handler: holderCallbacks);
        await using var b = await ConnectAsync(handler: new RecordingCallbackHandler());
        var held = (await a.OpenAsync(root, name, ShareAccess.Read).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.Read, held.Delegation.Type);

        Assert.Equal(NfsStat4.Delay, await SetAsync(b, file, "k", "v"));
        var recall = await NextRecallAsync(holderCallbacks);
        Assert.Equal(held.Delegation.StateId, recall.StateId);
        Assert.Equal(file, recall.FileHandle);
        Assert.Equal(NfsStat4.Delay, await SetAsync(b, file, "k", "v")); // still out

        Assert.Equal(NfsStat4.Ok, await a.DelegReturnAsync(file, held.Delegation.StateId).Bounded());
        Assert.Equal(NfsStat4.Ok, await SetAsync(b, file, "k", "v"));
        Assert.Equal(NfsStat4.Ok, await RemoveAsync(b, file, "k"));
    }

    [Fact]
    public async Task The_holders_own_changes_do_not_recall_its_delegation()
    {
        var (root, name, file) = await NewFileAsync();
        var callbacks = new RecordingCallbackHandler();
        await using var a = await ConnectAsync(handler: callbacks);
        var held = (await a.OpenAsync(root, name, ShareAccess.Read).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.Read, held.Delegation.Type);

        Assert.Equal(NfsStat4.Ok, await SetAsync(a, file, "k", "v"));
        Assert.Equal(NfsStat4.Ok, await RemoveAsync(a, file, "k"));

        Assert.False(callbacks.Recalls.TryRead(out _));
        Assert.Equal(NfsStat4.Ok, await a.DelegReturnAsync(file, held.Delegation.StateId).Bounded()); // still held, not revoked
    }

    [Fact]
    public async Task Reading_and_listing_by_another_client_recall_no_write_delegation()
    {
        var (root, name, file) = await NewFileAsync();
        Assert.Equal(NfsStat4.Ok, await SetAsync(_s, file, "k", "v"));
        var callbacks = new RecordingCallbackHandler();
        await using var a = await ConnectAsync(handler: callbacks);
        await using var b = await ConnectAsync(handler: new RecordingCallbackHandler());
        var held = (await a.OpenAsync(root, name, ShareAccess.Both).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.Write, held.Delegation.Type);

        Assert.Equal("v", Encoding.UTF8.GetString((await GetAsync(b, file, "k")).Value));
        Assert.Equal(["k"], (await ListAsync(b, file, 0, 8192)).Names);

        Assert.False(callbacks.Recalls.TryRead(out _));
        Assert.Equal(NfsStat4.Ok, await a.DelegReturnAsync(file, held.Delegation.StateId).Bounded());
    }
}

/// <summary>The server with Export:ReadOnly, over an export holding a file with a user attribute.</summary>
public sealed class ReadOnlyXattrServerFixture : ServerFixture
{
    public const string ExistingFile = "tagged.txt";

    protected override void Configure(IDictionary<string, string?> settings)
    {
        settings["Export:ReadOnly"] = "true";
        string path = Path.Join(ExportPath, ExistingFile);
        File.WriteAllText(path, "read me");
        DiskXattrs.Set(path, "user.colour", "blue");
    }
}

/// <summary>On a read-only export SETXATTR and REMOVEXATTR are NFS4ERR_ROFS; GETXATTR and LISTXATTRS still work.</summary>
public sealed class ReadOnlyXattrTests(ReadOnlyXattrServerFixture fx) : IClassFixture<ReadOnlyXattrServerFixture>
{
    [Fact]
    public async Task Changes_are_ROFS_and_reads_work()
    {
        await using var s = await fx.ConnectAsync(options: new Nfs4SessionOptions { MinorVersion = 2, BackChannel = false });
        var root = await fx.RootAsync();
        var file = (await s.LookupAsync(root, ReadOnlyXattrServerFixture.ExistingFile).Bounded()).ValueOrThrow();

        var set = await s.CompoundAsync(new CompoundBuilder().PutFh(file).SetXattr("colour", "red"u8)).Bounded();
        var remove = await s.CompoundAsync(new CompoundBuilder().PutFh(file).RemoveXattr("colour")).Bounded();
        var get = await s.CompoundAsync(new CompoundBuilder().PutFh(file).GetXattr("colour")).Bounded();
        var list = await s.CompoundAsync(new CompoundBuilder().PutFh(file).ListXattrs(0, 8192)).Bounded();

        Assert.Equal(NfsStat4.Rofs, set.Status);
        Assert.Equal(NfsStat4.Rofs, remove.Status);
        Assert.Equal("blue", Encoding.UTF8.GetString(get.Get<GetXattrResult>().Value));
        Assert.Equal(["colour"], list.Get<ListXattrsResult>().Names);
        var access = (await s.AccessAsync(file, (AccessBits)0x1C0).Bounded()).ValueOrThrow();
        Assert.Equal((AccessBits)0x140, access.Access); // XAREAD and XALIST, never XAWRITE
        Assert.Equal("blue", DiskXattrs.Get(Path.Join(fx.ExportPath, ReadOnlyXattrServerFixture.ExistingFile), "user.colour"));
    }
}
