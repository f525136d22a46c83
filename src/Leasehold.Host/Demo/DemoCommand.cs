using System.CommandLine;
using Leasehold.Engine;
using Leasehold.Host.Settings;
using Microsoft.Extensions.Logging;

namespace Leasehold.Host.Demo;

/// <summary>
/// <c>leasehold demo</c>: a scripted story that shows the engine at work on the real clock: delegations recalled
/// by a local writer, one holder answering and one silent until its deadline, the recall window, a write lease
/// downgraded for a reader, and an exclusive layout that makes a truncate fail at once.
/// </summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var breakTime = new Option<TimeSpan>("--break-time")
        {
            Description = "How long a holder has to answer a break (default 2s; the demo keeps it short): seconds, or 2s, 500ms.",
            HelpName = "duration",
            DefaultValueFactory = _ => TimeSpan.FromSeconds(2),
            CustomParser = ParseDuration,
        };
        var verbose = new Option<bool>("--verbose") { Description = "Show the engine's debug log events too." };
        var command = new Command("demo", "Run a short scripted demonstration of leases, delegations, recalls and layouts.")
        {
            breakTime,
            verbose,
        };
        command.SetAction((parse, ct) => RunAsync(parse.GetValue(breakTime), parse.GetValue(verbose), ct));
        return command;
    }

    /// <summary>A duration as every setting takes it; out of the engine's range (0 to 1 day) is a parse error naming the option.</summary>
    private static TimeSpan ParseDuration(System.CommandLine.Parsing.ArgumentResult result)
    {
        string raw = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
        string name = (result.Parent as System.CommandLine.Parsing.OptionResult)?.Option.Name ?? "--break-time";
        if (SettingsSchema.Convert(typeof(TimeSpan), raw, out _) is { } problem)
        {
            result.AddError($"{name} {SettingsSources.Quote(raw)} {problem}");
            return default;
        }
        TimeSpan value = Duration.TryParse(raw, out TimeSpan parsed, out _) ? parsed : default;
        try
        {
            new LeaseEngineOptions { LeaseBreakTime = value, DelegationBreakTime = value, LayoutBreakTime = value }.Validate();
        }
        catch (ArgumentException ex)
        {
            result.AddError($"{name} {SettingsSources.Quote(raw)}: {SectionValidator<LeaseEngineOptions>.Sentence(ex).Replace("LeaseBreakTime ", "the break time ", StringComparison.Ordinal)}");
        }
        return value;
    }

    private static async Task<int> RunAsync(TimeSpan breakTime, bool verbose, CancellationToken ct)
    {
        using var loggers = LoggerFactory.Create(b => b
            .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; })
            .SetMinimumLevel(verbose ? LogLevel.Debug : LogLevel.Information));
        var options = new LeaseEngineOptions
        {
            LeaseBreakTime = breakTime,
            DelegationBreakTime = breakTime,
            LayoutBreakTime = breakTime,
            DelegationRecallWindow = TimeSpan.FromSeconds(30),
        };
        await using var engine = new LeaseEngine(options, TimeProvider.System, OwnerMatchers.SameGroup, logger: loggers.CreateLogger<LeaseEngine>());
        var report = FileKey.From(1);
        var image = FileKey.From(2);
        var client1 = new Owner(1, 0);
        var client2 = new Owner(2, 0);
        var processA = new Owner(0, 100); // local processes belong to no group
        var processB = new Owner(0, 200);
        var local = Owner.Anonymous;

        Say("1. Two clients take read delegations on report.txt. Client 1 answers recalls; client 2 never does.");
        var prompt = new DemoHolder("client 1", engine, answer: true);
        var silent = new DemoHolder("client 2", engine, answer: false);
        await GrantAsync(engine, report, client1, GrantKind.Delegation, GrantMode.Read, prompt, ct);
        await GrantAsync(engine, report, client2, GrantKind.Delegation, GrantMode.Read, silent, ct);

        Say("2. A local process opens report.txt for write and waits for the recall to finish.");
        var started = TimeProvider.System.GetTimestamp();
        var open = engine.OpenAsync(report, local, OpenAccess.Write, BreakMode.Await, ct).AsTask();
        await Task.Delay(TimeSpan.FromMilliseconds(100), ct);
        PrintSnapshot(engine.Snapshot());
        var opened = await open;
        await Task.Delay(TimeSpan.FromMilliseconds(100), ct); // let the holder notices, which run on the thread pool, print
        Say($"   The writer went ahead ({opened.Status}) after {TimeProvider.System.GetElapsedTime(started).TotalSeconds:0.00} s: client 2's delegation was revoked at its deadline.");
        PrintSnapshot(engine.Snapshot());

        Say("3. Client 2 asks for a delegation again at once.");
        engine.Close(report, local, OpenAccess.Write);
        await GrantAsync(engine, report, client2, GrantKind.Delegation, GrantMode.Read, silent, ct);

        Say("4. Process A holds a write lease on notes.txt; process B opens it for read. A only has to downgrade.");
        var notes = FileKey.From(3);
        await GrantAsync(engine, notes, processA, GrantKind.Lease, GrantMode.Write, new DemoHolder("process A", engine, answer: true), ct);
        var read = await engine.OpenAsync(notes, processB, OpenAccess.Read, BreakMode.Await, ct);
        Say($"   Reader: {read.Status}.");
        await Task.Delay(TimeSpan.FromMilliseconds(100), ct);
        PrintSnapshot(engine.Snapshot());

        Say("5. Client 3 holds an exclusive layout on disk.img; a local truncate fails at once instead of waiting.");
        await GrantAsync(engine, image, new Owner(3, 0), GrantKind.Layout, GrantMode.Exclusive, new DemoHolder("client 3", engine, answer: true), ct);
        var truncate = await engine.BreakAsync(image, FileOperation.Truncate, local, BreakMode.Await, ct);
        Say($"   Truncate: {truncate.Status}.");
        Say("Done.");
        return 0;
    }

    private static async Task GrantAsync(LeaseEngine engine, FileKey file, Owner owner, GrantKind kind, GrantMode mode, DemoHolder holder, CancellationToken ct)
    {
        var result = await engine.GrantAsync(new GrantRequest(file, owner, kind, mode, holder), ct);
        Say($"   {holder.Name}: {kind} {mode} on {NameOf(file)} → {result.Status}");
    }

    private static void PrintSnapshot(EngineSnapshot snapshot)
    {
        Say("   file        kind        mode       holder  state     pending   deadline      waiting");
        foreach (var g in snapshot.Grants)
            Say($"   {NameOf(g.File),-11} {g.Kind,-11} {g.Mode,-10} {g.Holder,-7} {g.State,-9} {g.PendingBreak,-9} {g.Deadline?.ToString("HH:mm:ss.fff") ?? "-",-13} {g.WaitingBreakers}");
    }

    private static void Say(string line) => Console.WriteLine(line);

    private static string NameOf(FileKey file) => file.Low switch
    {
        1 => "report.txt",
        2 => "disk.img",
        3 => "notes.txt",
        _ => file.ToString(),
    };

    /// <summary>A holder that answers breaks at once (release, or downgrade when that is enough), or ignores them.</summary>
    private sealed class DemoHolder(string name, LeaseEngine engine, bool answer) : IGrantHolder
    {
        public string Name { get; } = name;

        public void OnBreak(Grant grant, BreakTarget target, DateTimeOffset deadline)
        {
            Say($"   {Name} hears: {target} its {grant.Kind} on {NameOf(grant.File)} by {deadline:HH:mm:ss.fff}{(answer ? "; answers at once" : "; stays silent")}");
            if (!answer)
                return;
            if (target == BreakTarget.Downgrade)
                engine.Downgrade(grant);
            else
                engine.Release(grant);
        }

        public void OnBreakExpired(Grant grant, BreakTarget applied)
        {
            Say($"   {Name} hears: its {grant.Kind} on {NameOf(grant.File)} was {(applied == BreakTarget.Revoke ? "revoked" : "downgraded")} by the engine");
            if (applied == BreakTarget.Revoke)
                engine.Release(grant); // acknowledge, as a client frees a revoked stateid
        }
    }
}
