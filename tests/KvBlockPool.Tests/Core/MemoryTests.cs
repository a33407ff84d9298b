using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using KvBlockPool.Core;
using Xunit.Abstractions;

namespace KvBlockPool.Tests.Core;

/// <summary>
/// Native memory is real memory: it must be taken when a pool is built, match what was asked, and be given back
/// at once on dispose, however many pools come and go.
/// </summary>
[Collection(ProcessWideCollection.Name)]
public sealed class MemoryTests(ITestOutputHelper output)
{
    private const long PoolBytes = 64L * 1024 * 1024;
    private const int Cycles = 1_000;

    [Fact]
    public void A_thousand_64_MiB_pools_built_and_disposed_leave_process_memory_flat()
    {
        // Llama-3-8B blocks (64 KiB). Every pool maps its 64 MiB slab (a leaked slab shows in the mapped size, VmSize,
        // whether touched or not). Every 10th pool is warmed up (zeroed at construction where slabs are not fresh
        // mappings), so all of its pages become resident (RSS); the others touch one block. Making all 1,000
        // resident would spend ~40 s of CPU in page faults alone and prove nothing more.
        BlockPool NewPool(int cycle)
        {
            BlockPool pool = TestPools.Create(
                spec: KvCacheSpec.Llama3_8B(),
                capacityBytes: PoolBytes,
                alignment: 0,
                clearMode: cycle % 10 == 0 ? BlockClearMode.ZeroOnFree : BlockClearMode.None);
            if (cycle % 10 == 0)
            {
                pool.WarmUp(null);
            }

            return pool;
        }

        Settle();
        long liveBefore = BlockPool.LiveNativeBytes;
        for (int i = 0; i < 10; i++)
        {
            NewPool(i).Dispose(); // warm-up: allocator arenas, JIT
        }

        Settle();
        (long rssBefore, long mappedBefore) = (ProcessMemory("VmRSS"), ProcessMemory("VmSize"));
        long peakRss = 0;
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < Cycles; i++)
        {
            using BlockPool pool = NewPool(i);
            Assert.Equal(PoolBytes, pool.NativeBytes);
            Assert.Equal(liveBefore + PoolBytes, BlockPool.LiveNativeBytes);
            KvBlock block = pool.Allocate(new AgentId(i), 0);
            pool.GetBlockSpan(block).Fill(1);
            pool.FreeAgent(new AgentId(i));
            if (i % 100 == 0)
            {
                peakRss = Math.Max(peakRss, ProcessMemory("VmRSS"));
            }
        }

        clock.Stop();
        Settle();
        (long rssAfter, long mappedAfter) = (ProcessMemory("VmRSS"), ProcessMemory("VmSize"));
        output.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"{Cycles} cycles of a {PoolBytes >> 20} MiB pool in {clock.ElapsedMilliseconds} ms; RSS {rssBefore >> 20} MiB before, {peakRss >> 20} MiB sampled peak (a warmed-up pool alive), {rssAfter >> 20} MiB after ({(rssAfter - rssBefore) >> 10} KiB growth); mapped {mappedBefore >> 20} -> {mappedAfter >> 20} MiB; live native bytes {BlockPool.LiveNativeBytes}"));

        Assert.Equal(liveBefore, BlockPool.LiveNativeBytes);

        // Leaking one pool in 1,000 would grow both by 64 MiB; allow runtime and allocator noise well below one pool.
        Assert.True(peakRss - rssBefore > PoolBytes * 9 / 10, "the warmed-up pools were never resident: the test measured nothing");
        Assert.True(rssAfter - rssBefore < PoolBytes / 2, $"RSS grew by {(rssAfter - rssBefore) >> 20} MiB over {Cycles} cycles");
        Assert.True(mappedAfter - mappedBefore < PoolBytes / 2, $"mapped memory grew by {(mappedAfter - mappedBefore) >> 20} MiB over {Cycles} cycles");
    }

    [Fact]
    public void A_pools_native_bytes_match_what_was_asked_and_are_resident_once_warmed_up()
    {
        Settle();
        long liveBefore = BlockPool.LiveNativeBytes;
        long rssBefore = ProcessMemory("VmRSS");
        BlockPool pool = TestPools.Create(spec: KvCacheSpec.Llama3_8B(), capacityBytes: PoolBytes, alignment: 0);
        pool.WarmUp(null);
        long rssWith = ProcessMemory("VmRSS");
        Assert.Equal(1024, pool.Capacity);
        Assert.Equal(PoolBytes, pool.NativeBytes);
        Assert.Equal(PoolBytes, BlockPool.LiveNativeBytes - liveBefore);
        Assert.True(rssWith - rssBefore > PoolBytes * 9 / 10, $"a warmed-up 64 MiB pool added only {(rssWith - rssBefore) >> 20} MiB of resident memory");

        pool.Dispose();
        long rssAfter = ProcessMemory("VmRSS");
        output.WriteLine($"RSS {rssBefore >> 20} MiB -> {rssWith >> 20} MiB with the pool -> {rssAfter >> 20} MiB after dispose");
        Assert.Equal(liveBefore, BlockPool.LiveNativeBytes);
        Assert.True(rssWith - rssAfter > PoolBytes * 9 / 10, $"dispose gave back only {(rssWith - rssAfter) >> 20} MiB");
    }

    [Fact]
    public void A_pool_that_is_never_disposed_frees_its_slabs_when_collected()
    {
        Settle();
        long liveBefore = BlockPool.LiveNativeBytes;
        long held = BuildAndDrop();
        Assert.Equal(8 * 256, held);
        Settle();
        Assert.Equal(liveBefore, BlockPool.LiveNativeBytes);
    }

    [Fact]
    public void Disposing_a_pool_drops_the_live_native_bytes_by_exactly_its_own()
    {
        Settle();
        long liveBefore = BlockPool.LiveNativeBytes;
        using BlockPool a = TestPools.Create(capacity: 8);
        BlockPool b = TestPools.Create(capacity: 3, diagnostics: true);
        Assert.Equal(liveBefore + a.NativeBytes + b.NativeBytes, BlockPool.LiveNativeBytes);
        long bBytes = b.NativeBytes;
        b.Dispose();
        Assert.Equal(liveBefore + a.NativeBytes, BlockPool.LiveNativeBytes);
        Assert.Equal(3 * 320, bBytes);
    }

    [Fact]
    public unsafe void Native_slabs_are_freed_exactly_once()
    {
        var allocator = new FailingAllocator(throwOutOfMemory: false);
        var options = new BlockPoolOptions { Spec = TestPools.Spec(), CapacityBlocks = 4, BlocksPerSlab = 2, Alignment = 64 };
        BlockLayout layout = BlockLayout.Resolve(options, options.Spec!, diagnostics: false);
        long live = NativeSlabs.LiveBytes;
        var slabs = NativeSlabs.Allocate(layout, allocator, fill: 0, guardFill: 0);
        Assert.Equal((2, 1024L), (allocator.Live, slabs.TotalBytes));
        slabs.Dispose();
        slabs.Dispose();
        Assert.Equal(0, allocator.Live);
        Assert.Equal(live, NativeSlabs.LiveBytes);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static long BuildAndDrop()
    {
        BlockPool pool = TestPools.Create(capacity: 8);
        pool.Allocate(new AgentId(1), 0);
        return pool.NativeBytes;
    }

    internal static void Settle()
    {
        for (int i = 0; i < 2; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
    }

    /// <summary>A figure from /proc/self/status (VmRSS: resident; VmSize: mapped), or the working set where there is no /proc.</summary>
    internal static long ProcessMemory(string field)
    {
        const string path = "/proc/self/status";
        if (File.Exists(path))
        {
            foreach (string line in File.ReadLines(path))
            {
                if (line.StartsWith(field + ":", StringComparison.Ordinal))
                {
                    return long.Parse(line.AsSpan(field.Length + 1).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture) * 1024;
                }
            }
        }

        using var process = Process.GetCurrentProcess();
        return field == "VmSize" ? process.VirtualMemorySize64 : process.WorkingSet64;
    }
}
