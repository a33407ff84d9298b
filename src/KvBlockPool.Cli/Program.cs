using KvBlockPool.Cli;

return CommandLine.Run(args, CliConsole.System);
