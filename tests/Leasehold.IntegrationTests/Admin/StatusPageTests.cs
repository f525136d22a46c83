using Leasehold.Nfs4.Client;
using Leasehold.Nfs4.Client.Callbacks;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Support.UI;

namespace Leasehold.IntegrationTests.Admin;

/// <summary>Runs where Debian's chromium and chromium-driver are installed (CI installs them); skips elsewhere, saying why.</summary>
public sealed class BrowserFactAttribute : FactAttribute
{
    public const string Chromium = "/usr/bin/chromium", ChromeDriver = "/usr/bin/chromedriver";

    public BrowserFactAttribute()
    {
        if (!File.Exists(Chromium) || !File.Exists(ChromeDriver))
            Skip = "needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)";
    }
}

/// <summary>
/// The status page in a real headless browser (Debian's Chromium through Selenium and chromedriver), over the admin
/// endpoint's TCP address with the token: a delegation a test client takes appears on the page without a reload.
/// </summary>
public sealed class StatusPageTests(AdminFixture fx) : IClassFixture<AdminFixture>
{
    [BrowserFact]
    public async Task A_delegation_a_client_takes_appears_on_the_page_without_a_reload()
    {
        var root = await fx.RootAsync();
        string name = ServerFixture.NewName("page");
        var made = (await fx.Session.CreateAsync(root, name).Bounded()).ValueOrThrow();
        Assert.Equal(NfsStat4.Ok, (await fx.Session.CloseAsync(made.FileHandle, made.StateId).Bounded()).Status);

        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(BrowserFactAttribute.ChromeDriver), Path.GetFileName(BrowserFactAttribute.ChromeDriver));
        service.HideCommandPromptWindow = true;
        service.SuppressInitialDiagnosticInformation = true;
        var options = new ChromeOptions { BinaryLocation = BrowserFactAttribute.Chromium };
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", $"--user-data-dir={Path.Join(fx.Root, "chromium")}");
        using var browser = new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
        var wait = new WebDriverWait(browser, TimeSpan.FromSeconds(20));
        // The page rebuilds its tables every second: an element found a moment ago may be gone; look again.
        wait.IgnoreExceptionTypes(typeof(StaleElementReferenceException));

        // The token once in the address: the endpoint sets it as a cookie and sends the browser to "/".
        browser.Navigate().GoToUrl($"http://{fx.Admin.TcpEndPoint}/?token={fx.Token}");
        wait.Until(b => b.FindElement(By.Id("updated")).Text != "never");
        Assert.Equal($"http://{fx.Admin.TcpEndPoint}/", browser.Url);
        Assert.DoesNotContain(name, wait.Until(b => b.FindElement(By.Id("delegations")).Text), StringComparison.Ordinal);
        ((IJavaScriptExecutor)browser).ExecuteScript("window.leaseholdTestMarker = 'same page';");

        var handler = new RecordingCallbackHandler();
        await using var client = await fx.ConnectAsync(options: new Nfs4SessionOptions { CallbackHandler = handler });
        var opened = (await client.OpenAsync(root, name, ShareAccess.Read | ShareAccess.WantReadDelegation).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.Read, opened.Delegation.Type);

        string row = wait.Until(b => b.FindElements(By.CssSelector("#delegations tbody tr.delegation"))
            .Select(r => r.Text).FirstOrDefault(t => t.Contains("/" + name, StringComparison.Ordinal)))!;
        Assert.Contains("READ", row);
        Assert.Contains(client.ClientId.ToString("x16"), row);
        Assert.Equal("same page", ((IJavaScriptExecutor)browser).ExecuteScript("return window.leaseholdTestMarker;"));
        Assert.Contains(client.ClientId.ToString("x16"), wait.Until(b => b.FindElement(By.Id("clients")).Text), StringComparison.Ordinal);
    }
}
