using KvBlockPool.Samples.OnnxDecode;

return OnnxDecodeCommand.Run(args, Console.Out, Console.Error);
