using KvBlockPool.Cli;

return CliApplication.Run(args, CliConsole.System);
