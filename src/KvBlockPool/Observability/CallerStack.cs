using System.Diagnostics;

namespace KvBlockPool.Observability;

/// <summary>
/// Formats an allocation stack from the caller's first frame on. The stack is captured whole, and the library's own
/// leading frames are dropped here rather than skipped by a fixed count at capture: the JIT inlines the library's
/// small public overloads once they are hot (tier-1), so a fixed count sometimes skipped the caller's frame too and
/// a leak report then named the wrong code.
/// </summary>
internal static class CallerStack
{
    private static readonly System.Reflection.Assembly Library = typeof(BlockPool).Assembly;

    public static string Format(StackTrace trace)
    {
        StackFrame[] frames = trace.GetFrames();
        int first = 0;
        while (first < frames.Length && IsLibraryFrame(frames[first]))
        {
            first++;
        }

        // A stack made only of library frames (nothing called in from outside) is shown whole rather than as nothing.
        return first == 0 || first == frames.Length ? trace.ToString() : new StackTrace(frames[first..]).ToString();
    }

    private static bool IsLibraryFrame(StackFrame frame) => frame.GetMethod()?.DeclaringType?.Assembly == Library;
}
