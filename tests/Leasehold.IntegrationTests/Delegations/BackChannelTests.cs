using Leasehold.Nfs4.Client;
using Leasehold.Nfs4.Client.Callbacks;
using Leasehold.Nfs4.Client.Rpc;
using Leasehold.Rpc.Messages;

namespace Leasehold.IntegrationTests.Delegations;

/// <summary>
/// The NFSv4.1 back channel on the wire (RFC 8881 §2.10.3.1, §18.33, §18.34, §18.36, §18.46.3): which connections it
/// uses, the CB_NULL probe and its credentials, and what SEQUENCE's status flags say about it.
/// </summary>
public sealed class BackChannelTests(ServerFixture fx) : IClassFixture<ServerFixture>
{
    private const uint CbPathDown = 0x1, CbPathDownSession = 0x200, BackchannelFault = 0x400;
    private const uint CallbackProgram = 0x4000_0000;

    private static readonly RpcCredentials Gss = new(AuthFlavor.RpcSecGss, 0, 0, [], "");

    private async Task<(Nfs4Session Session, RecordingCallbackHandler Handler)> ConnectAsync(
        IReadOnlyList<RpcCredentials>? callbackSecurity = null, bool backChannel = true)
    {
        var handler = new RecordingCallbackHandler();
        var session = await fx.ConnectAsync(options: new Nfs4SessionOptions
        {
            CallbackHandler = handler,
            CallbackSecurity = callbackSecurity,
            BackChannel = backChannel,
        });
        return (session, handler);
    }

    /// <summary>The next CB_NULL the client's callback handler sees.</summary>
    private static async Task<CbNullEvent> NextProbeAsync(RecordingCallbackHandler handler)
    {
        using var timeout = new CancellationTokenSource(Waits.Timeout);
        while (true)
        {
            var e = await handler.Events.ReadAsync(timeout.Token);
            if (e is CbNullEvent probe)
                return probe;
        }
    }

    /// <summary>Sends SEQUENCEs until the status flags are <paramref name="expected"/> (the server learns of a closed connection or a probe's answer asynchronously).</summary>
    private static async Task WaitForFlagsAsync(Nfs4Session session, uint expected)
    {
        var deadline = DateTime.UtcNow + Waits.Timeout;
        while (true)
        {
            Assert.Equal(NfsStat4.Ok, await session.RenewAsync().Bounded());
            if (session.LastSequenceStatusFlags == expected)
                return;
            Assert.True(DateTime.UtcNow < deadline, $"SEQUENCE status flags stayed 0x{session.LastSequenceStatusFlags:x}, expected 0x{expected:x}");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task A_session_created_with_a_back_channel_is_probed_with_CB_NULL()
    {
        var (session, handler) = await ConnectAsync();
        await using var _ = session;
        Assert.True(session.HasBackChannel);

        await NextProbeAsync(handler);
        await WaitForFlagsAsync(session, 0);
        Assert.Equal(1, handler.NullCount);
    }

    [Fact]
    public async Task The_probe_carries_the_AUTH_SYS_credentials_the_client_gave()
    {
        var given = RpcAuth.Sys(1234, 5678, [7, 8], "callback-host") with { Stamp = 0x5eed };
        var (session, handler) = await ConnectAsync([given]);
        await using var _ = session;

        var probe = await NextProbeAsync(handler);
        Assert.NotNull(probe.Credentials);
        Assert.Equal(AuthFlavor.Sys, probe.Credentials.Flavor);
        Assert.Equal(1234u, probe.Credentials.Uid);
        Assert.Equal(5678u, probe.Credentials.Gid);
        Assert.Equal([7u, 8u], probe.Credentials.Groups);
        Assert.Equal("callback-host", probe.Credentials.MachineName);
        Assert.Equal(0x5eedu, probe.Credentials.Stamp); // the authsys_parms are echoed whole (pynfs DELEG5 checks uid and gid)
    }

    [Fact]
    public async Task The_probe_carries_AUTH_NONE_when_the_client_asks_for_it()
    {
        var (session, handler) = await ConnectAsync([RpcCredentials.None]);
        await using var _ = session;

        var probe = await NextProbeAsync(handler);
        Assert.Equal(AuthFlavor.None, probe.Credentials?.Flavor);
    }

    [Fact]
    public async Task The_first_flavor_the_server_supports_is_used_after_a_GSS_one()
    {
        var (session, handler) = await ConnectAsync([Gss, RpcAuth.Sys(42, 43, machineName: "second")]);
        await using var _ = session;

        var probe = await NextProbeAsync(handler);
        Assert.Equal(AuthFlavor.Sys, probe.Credentials?.Flavor);
        Assert.Equal(42u, probe.Credentials?.Uid);
    }

    [Fact]
    public async Task Only_GSS_callback_security_is_ENCR_ALG_UNSUPP()
    {
        var failure = await Assert.ThrowsAsync<Nfs4StatusException>(() => ConnectAsync([Gss]));
        Assert.Equal(NfsStat4.EncrAlgUnsupp, failure.Status);
        Assert.Equal(NfsOpcode.CreateSession, failure.Op);
    }

    [Fact]
    public async Task An_empty_callback_security_list_means_AUTH_NONE()
    {
        // pynfs sends csa_sec_parms = []; knfsd reads that as AUTH_NONE rather than refusing the session.
        var (session, handler) = await ConnectAsync([]);
        await using var _ = session;

        var probe = await NextProbeAsync(handler);
        Assert.Equal(AuthFlavor.None, probe.Credentials?.Flavor);
    }

    [Fact]
    public async Task Channel_attributes_are_checked_before_callback_security()
    {
        var failure = await Assert.ThrowsAsync<Nfs4StatusException>(() =>
            fx.ConnectAsync(options: new Nfs4SessionOptions { BackChannelMaxOperations = 1, CallbackSecurity = [Gss] }));
        Assert.Equal(NfsStat4.TooSmall, failure.Status);
    }

    [Fact]
    public async Task A_back_channel_of_fewer_than_two_operations_is_TOOSMALL()
    {
        var failure = await Assert.ThrowsAsync<Nfs4StatusException>(() =>
            fx.ConnectAsync(options: new Nfs4SessionOptions { BackChannelMaxOperations = 1 }));
        Assert.Equal(NfsStat4.TooSmall, failure.Status);
    }

    [Fact]
    public async Task A_session_without_a_back_channel_reports_CB_PATH_DOWN()
    {
        var (session, handler) = await ConnectAsync(backChannel: false);
        await using var _ = session;
        Assert.False(session.HasBackChannel);

        Assert.Equal(NfsStat4.Ok, await session.RenewAsync().Bounded());
        Assert.Equal(CbPathDown, session.LastSequenceStatusFlags);
        Assert.Equal(0, handler.NullCount);
    }

    [Fact]
    public async Task A_fore_only_binding_is_not_used_for_callbacks_and_a_back_binding_is()
    {
        var (session, handler) = await ConnectAsync(backChannel: false);
        await using var _ = session;

        var fore = await session.ReconnectAsync(ChannelDirFromClient.Fore).Bounded();
        Assert.Equal(ChannelDirFromServer.Fore, fore.Get<BindConnToSessionResult>().Direction);
        Assert.Equal(NfsStat4.Ok, await session.RenewAsync().Bounded());
        Assert.Equal(CbPathDown, session.LastSequenceStatusFlags);

        var back = await session.ReconnectAsync(ChannelDirFromClient.Back).Bounded();
        Assert.Equal(ChannelDirFromServer.Back, back.Get<BindConnToSessionResult>().Direction);
        await NextProbeAsync(handler);
        await WaitForFlagsAsync(session, 0);
        Assert.Equal(1, handler.NullCount); // the fore-only connection was never probed
    }

    [Fact]
    public async Task Closing_the_back_connection_reports_CB_PATH_DOWN_SESSION_until_a_new_one_is_bound()
    {
        var (session, handler) = await ConnectAsync();
        await using var _ = session;
        await NextProbeAsync(handler);
        await WaitForFlagsAsync(session, 0);

        // A new fore-only connection replaces the one that carried both channels; closing that one loses the back channel.
        (await session.ReconnectAsync(ChannelDirFromClient.Fore).Bounded()).ThrowIfFailed();
        await WaitForFlagsAsync(session, CbPathDown | CbPathDownSession);

        var rebound = await session.ReconnectAsync(ChannelDirFromClient.BackOrBoth).Bounded();
        Assert.Equal(ChannelDirFromServer.Both, rebound.Get<BindConnToSessionResult>().Direction);
        await NextProbeAsync(handler);
        await WaitForFlagsAsync(session, 0);
    }

    [Fact]
    public async Task BACKCHANNEL_CTL_changes_the_credentials_of_later_callbacks()
    {
        var (session, handler) = await ConnectAsync([RpcAuth.Sys(1000, 1000)]);
        await using var _ = session;
        Assert.Equal(1000u, (await NextProbeAsync(handler)).Credentials?.Uid);

        Assert.Equal(NfsStat4.Ok, await session.BackchannelCtlAsync(CallbackProgram, [RpcAuth.Sys(2000, 3000)]).Bounded());

        var probe = await NextProbeAsync(handler);
        Assert.Equal(2000u, probe.Credentials?.Uid);
        Assert.Equal(3000u, probe.Credentials?.Gid);
        await WaitForFlagsAsync(session, 0);
    }

    [Fact]
    public async Task BACKCHANNEL_CTL_to_a_program_the_client_does_not_serve_reports_BACKCHANNEL_FAULT()
    {
        var (session, handler) = await ConnectAsync();
        await using var _ = session;
        await NextProbeAsync(handler);

        // The client's callback program answers PROG_UNAVAIL for any other program number.
        Assert.Equal(NfsStat4.Ok, await session.BackchannelCtlAsync(CallbackProgram + 1, [RpcAuth.Root]).Bounded());
        await WaitForFlagsAsync(session, CbPathDown | BackchannelFault);

        Assert.Equal(NfsStat4.Ok, await session.BackchannelCtlAsync(CallbackProgram, [RpcAuth.Root]).Bounded());
        await WaitForFlagsAsync(session, 0);
    }

    [Fact]
    public async Task BACKCHANNEL_CTL_with_only_GSS_is_ENCR_ALG_UNSUPP()
    {
        var (session, _) = await ConnectAsync();
        await using var __ = session;
        Assert.Equal(NfsStat4.EncrAlgUnsupp, await session.BackchannelCtlAsync(CallbackProgram, [Gss]).Bounded());
    }

    [Fact]
    public async Task BACKCHANNEL_CTL_outside_a_SEQUENCE_is_OP_NOT_IN_SESSION()
    {
        var (session, _) = await ConnectAsync();
        await using var __ = session;
        using var alone = new CompoundBuilder("ctl").BackchannelCtl(CallbackProgram, [RpcAuth.Root]);
        Assert.Equal(NfsStat4.OpNotInSession, (await session.SendAsync(alone).Bounded()).Status);
    }
}
