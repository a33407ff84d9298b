namespace KvBlockPool.Cli.Simulate;

/// <summary>How reports name the operations: words for people, camelCase keys for JSON.</summary>
internal static class OperationNames
{
    public static string Display(OperationKind kind) => kind switch
    {
        OperationKind.Admit => "admit",
        OperationKind.Append => "append",
        OperationKind.Truncate => "truncate",
        OperationKind.Release => "release",
        OperationKind.AbortedAdmission => "aborted admission",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    public static string JsonKey(OperationKind kind) => kind switch
    {
        OperationKind.AbortedAdmission => "abortedAdmission",
        _ => Display(kind),
    };
}
