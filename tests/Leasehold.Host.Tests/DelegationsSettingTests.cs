using Leasehold.Host.Settings;
using Leasehold.Nfs4.State;
using Microsoft.Extensions.Configuration;

namespace Leasehold.Host.Tests;

/// <summary>
/// Issue 9: Nfs4:Delegations grew from a boolean into On, Off and ExclusiveExport; the true and false of existing
/// configurations still mean On and Off, both through the host's settings check and through the plain binder.
/// </summary>
public sealed class DelegationsSettingTests
{
    [Theory]
    [InlineData("true", "On")]
    [InlineData(" False ", "Off")]
    [InlineData("on", "On")]
    [InlineData("OFF", "Off")]
    [InlineData("exclusiveexport", "ExclusiveExport")]
    public void Old_and_new_values_are_read(string raw, string expected)
    {
        Assert.Null(SettingsSchema.Convert(typeof(DelegationPolicy), raw, out string? canonical));
        Assert.Equal(expected, canonical);
    }

    [Theory]
    [InlineData("maybe")]
    [InlineData("1")]
    [InlineData("2")]
    [InlineData("yes")]
    public void Other_values_are_refused_with_the_choices(string raw)
    {
        Assert.Equal("must be one of Off, On, ExclusiveExport", SettingsSchema.Convert(typeof(DelegationPolicy), raw, out _));
    }

    [Theory]
    [InlineData("false", DelegationPolicy.Off)]
    [InlineData("true", DelegationPolicy.On)]
    [InlineData("ExclusiveExport", DelegationPolicy.ExclusiveExport)]
    public void The_plain_configuration_binder_reads_the_boolean_too(string raw, DelegationPolicy expected)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Nfs4:Delegations"] = raw }).Build();

        var options = configuration.GetSection("Nfs4").Get<Nfs4Options>()!;

        Assert.Equal(expected, options.Delegations);
    }

    [Fact]
    public void The_default_is_On_and_the_help_lists_the_choices()
    {
        var section = SettingsSchema.Find("Nfs4")!;

        Assert.Equal("On (one of Off, On, ExclusiveExport)", SettingsSchema.FormatDefault(section, section.Find("Delegations")!, new Nfs4Options()));
    }
}
