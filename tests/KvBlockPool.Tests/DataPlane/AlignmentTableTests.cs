using System.Globalization;
using System.Text.RegularExpressions;
using KvBlockPool.Tests.QuickStart;

namespace KvBlockPool.Tests.DataPlane;

/// <summary>Keeps the alignment table of docs/benchmarks.md honest: every row is the statistics of a real pool.</summary>
public sealed partial class AlignmentTableTests
{
    /// <summary>The table's shapes, in its order.</summary>
    private static readonly (KvCacheSpec Spec, bool Diagnostics)[] Shapes =
    [
        (KvCacheSpec.Llama3_8B(), false),
        (KvCacheSpec.Llama3_70B(), false),
        (KvCacheSpec.Mistral7B(), false),
        (KvCacheSpec.Qwen25_7B(), false),
        (KvCacheSpec.TinyLlama_1_1B(), false),
        (new KvCacheSpec(1, 2, 8, 16, KvElementType.Float16), false),
        (new KvCacheSpec(5, 4, 8, 16, KvElementType.Float32), false),
        (new KvCacheSpec(1, 3, 7, 5, KvElementType.Float32), false),
        (new KvCacheSpec(1, 2, 8, 16, KvElementType.Float16), true),
    ];

    [Fact]
    public void Every_row_is_what_the_pool_reports()
    {
        string docs = File.ReadAllText(Path.Combine(QuickStartTests.RepositoryRoot(), "docs", "benchmarks.md"));
        int start = docs.IndexOf("### Memory overhead of the default alignment", StringComparison.Ordinal);
        Assert.True(start >= 0, "docs/benchmarks.md has no alignment table");
        MatchCollection rows = Row().Matches(docs[start..docs.IndexOf("\n#", start + 10, StringComparison.Ordinal)]);
        Assert.Equal(Shapes.Length, rows.Count);
        for (int i = 0; i < Shapes.Length; i++)
        {
            (KvCacheSpec spec, bool diagnostics) = Shapes[i];
            Match row = rows[i];
            using BlockPool pool = TestPools.Create(capacity: 2, spec: spec, diagnostics: diagnostics, alignment: 0);
            using BlockPool paged = TestPools.Create(capacity: 2, spec: spec, diagnostics: diagnostics, alignment: 4096);
            BlockPoolStatistics stats = pool.GetStatistics();
            string shape = row.Groups["shape"].Value;
            Assert.Equal(spec.BytesPerBlock, int.Parse(row.Groups["bytes"].Value, CultureInfo.InvariantCulture));
            Assert.Equal(stats.Stride, long.Parse(row.Groups["stride"].Value, CultureInfo.InvariantCulture));
            Assert.Equal(KvBlockPool.Core.BlockLayout.DefaultAlignment(spec.BytesPerBlock + (diagnostics ? 64 : 0)), int.Parse(row.Groups["alignment"].Value, CultureInfo.InvariantCulture));
            Assert.True(Percent(stats.Overhead) == row.Groups["overhead"].Value, $"{shape}: {Percent(stats.Overhead)}");
            Assert.True(Percent(paged.GetStatistics().Overhead) == row.Groups["paged"].Value, $"{shape} paged: {Percent(paged.GetStatistics().Overhead)}");
        }
    }

    private static string Percent(double ratio) => (ratio * 100).ToString("F2", CultureInfo.InvariantCulture) + "%";

    [GeneratedRegex(@"^\| (?<shape>[^|]+) \| (?<bytes>\d+) \| (?<alignment>\d+) \| (?<stride>\d+) \| (?<overhead>[\d.]+%) \| (?<paged>[\d.]+%) \|$", RegexOptions.Multiline)]
    private static partial Regex Row();
}
