using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Leasehold.IntegrationTests.LocalAccess;

/// <summary>
/// The default server, with delegations guarded against local processes (<c>Nfs4:Delegations = On</c>, chosen
/// explicitly so the fixture never falls back to ExclusiveExport), and its warnings captured.
/// </summary>
public class LocalAccessServerFixture : ServerFixture
{
    /// <summary>The server's warnings and errors.</summary>
    public LogCapture Log { get; } = new();

    protected override void ConfigureServices(IServiceCollection services) => services.AddSingleton<ILoggerProvider>(Log);

    protected override void Configure(IDictionary<string, string?> settings) => settings["Nfs4:Delegations"] = "On";

    /// <summary>The file's path on disk, for the local process.</summary>
    public string PathOf(string name) => Path.Join(ExportPath, name);
}

/// <summary>A lease time of 4 s: a delegation not returned is revoked 4 s after its recall, in real time.</summary>
public sealed class ShortLeaseLocalAccessFixture : LocalAccessServerFixture
{
    public override TimeSpan LeaseTime => TimeSpan.FromSeconds(4);
}

/// <summary>An export that guards nothing (<c>Export:LocalAccess = Off</c>) under the default delegation policy.</summary>
public sealed class UnguardedServerFixture : LocalAccessServerFixture
{
    protected override void Configure(IDictionary<string, string?> settings)
    {
        base.Configure(settings);
        settings["Export:LocalAccess"] = "Off";
    }
}

/// <summary>An export that guards nothing, with delegations granted anyway (<c>Nfs4:Delegations = ExclusiveExport</c>).</summary>
public sealed class ExclusiveExportServerFixture : LocalAccessServerFixture
{
    protected override void Configure(IDictionary<string, string?> settings)
    {
        settings["Export:LocalAccess"] = "Off";
        settings["Nfs4:Delegations"] = "ExclusiveExport";
    }
}

/// <summary>
/// A recall window of 3 s (<c>Engine:DelegationRecallWindow</c>, 30 s by default): a file whose delegation was recalled
/// is delegated again 3 s after the recall, in real time.
/// </summary>
public sealed class ShortRecallWindowLocalAccessFixture : LocalAccessServerFixture
{
    public static readonly TimeSpan RecallWindow = TimeSpan.FromSeconds(3);

    protected override void Configure(IDictionary<string, string?> settings)
    {
        base.Configure(settings);
        settings["Engine:DelegationRecallWindow"] = RecallWindow.ToString();
    }
}

/// <summary>At most two guarded files at once (<c>Export:MaxKernelLeases = 2</c>), as if descriptors had run out.</summary>
public sealed class TwoKernelLeasesFixture : LocalAccessServerFixture
{
    public const int MaxKernelLeases = 2;

    protected override void Configure(IDictionary<string, string?> settings)
    {
        base.Configure(settings);
        settings["Export:MaxKernelLeases"] = MaxKernelLeases.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }
}
