using System.CommandLine;
using Leasehold.Host.Demo;
using Leasehold.Host.Serving;

var root = new RootCommand("Leasehold: a delegation-aware NFSv4.1 file server built around a lease engine.");
root.Subcommands.Add(ServeCommand.Create());
root.Subcommands.Add(DemoCommand.Create());
return await root.Parse(args).InvokeAsync();
