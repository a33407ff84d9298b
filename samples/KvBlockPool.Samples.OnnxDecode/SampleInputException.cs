namespace KvBlockPool.Samples.OnnxDecode;

/// <summary>Input the sample cannot run with (a missing or wrong model, a cache that does not fit): a message for the user, exit code 2.</summary>
/// <param name="message">What was wrong and what to do.</param>
/// <param name="inner">The error that revealed it, if any.</param>
public sealed class SampleInputException(string message, Exception? inner = null) : Exception(message, inner);
