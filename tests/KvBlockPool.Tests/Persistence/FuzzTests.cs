using KvBlockPool.Persistence;

namespace KvBlockPool.Tests.Persistence;

/// <summary>
/// Thousands of seeded mutations of valid saved caches: each is refused with a format exception or restores
/// byte-identical, and never crashes, hangs or leaks a block. Memory streams take the direct one-thread path; files
/// take the parallel file restore (length checked up front, layers on two threads).
/// </summary>
public sealed class FuzzTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("kvblockpool-fuzz-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Theory]
    [InlineData(false, 4000)]
    [InlineData(true, 4000)]
    public async Task Mutated_caches_are_refused_or_restored_byte_identical_and_never_leak(bool throughFile, int mutations)
    {
        using BlockPool source = TestPools.Create(capacity: 64, layers: 3);
        var agents = new[] { new AgentId(1), new AgentId(2), new AgentId(3) };
        PersistenceKit.Fill(source, agents[0], seed: 61, 2, 2, 2);
        PersistenceKit.Fill(source, agents[1], seed: 62, 0, 3, 1);
        PersistenceKit.Fill(source, agents[2], seed: 63, 1, 0, 0);
        byte[][] originals = await Task.WhenAll(agents.Select(a => PersistenceKit.SaveAsync(source, a)));
        byte[][][] contents = agents.Select(a => PersistenceKit.Snapshot(source, a)).ToArray();

        using BlockPool target = TestPools.Create(capacity: 16, layers: 3);
        PersistenceKit.Fill(target, new AgentId(100), seed: 64, 1, 1, 1);
        string bystander = PersistenceKit.DescribeAgents(target);
        var random = new Random(20261125);
        var restored = new AgentId(-1);
        int refused = 0, accepted = 0;

        string path = Path.Combine(_directory, "mutated.kvcache");
        for (int i = 0; i < mutations; i++)
        {
            int which = random.Next(originals.Length);
            byte[] mutated = Mutate(originals[which], originals[random.Next(originals.Length)], random, out string how);
            try
            {
                using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(10)); // a hang fails instead of stalling the run
                if (throughFile)
                {
                    await File.WriteAllBytesAsync(path, mutated, cancel.Token);
                    await using FileStream file = File.OpenRead(path);
                    await KvCacheReader.RestoreAsync(target, file, restored, maxDegreeOfParallelism: 2, cancel.Token);
                }
                else
                {
                    await PersistenceKit.RestoreAsync(target, mutated, restored, cancel.Token);
                }

                accepted++;
                int original = Array.FindIndex(originals, o => o.AsSpan().SequenceEqual(mutated));
                Assert.True(original >= 0, $"mutation {i} ({how}) was accepted but is not a valid file");
                PersistenceKit.AssertSameBytes(contents[original], PersistenceKit.Snapshot(target, restored));
                target.FreeAgent(restored);
            }
            catch (KvCacheFormatException)
            {
                refused++;
            }

            Assert.False(target.ContainsAgent(restored), $"mutation {i} ({how}) left the agent behind");
            Assert.Equal(13, target.AvailableBlocks);
        }

        Assert.Null(target.FindInvariantViolation());
        Assert.Equal(bystander, PersistenceKit.DescribeAgents(target));
        Assert.Equal(mutations, refused + accepted);
        Assert.True(refused > mutations * 9 / 10, $"only {refused} of {mutations} mutations were refused");
    }

    private static byte[] Mutate(byte[] file, byte[] other, Random random, out string how)
    {
        switch (random.Next(5))
        {
            case 0:
            {
                byte[] copy = (byte[])file.Clone();
                int flips = 1 + random.Next(3);
                for (int f = 0; f < flips; f++)
                {
                    copy[random.Next(copy.Length)] ^= (byte)(1 << random.Next(8));
                }

                how = $"{flips} bit flip(s)";
                return copy;
            }

            case 1:
            {
                int length = random.Next(file.Length);
                how = $"truncated to {length}";
                return file[..length];
            }

            case 2:
            {
                // Splice: a run of another file's bytes over this one's.
                byte[] copy = (byte[])file.Clone();
                int at = random.Next(copy.Length);
                int from = random.Next(other.Length);
                int length = Math.Min(1 + random.Next(64), Math.Min(copy.Length - at, other.Length - from));
                other.AsSpan(from, length).CopyTo(copy.AsSpan(at));
                how = $"splice of {length} bytes at {at}";
                return copy;
            }

            case 3:
            {
                // Splice: this file's head with the other's tail.
                int cut = random.Next(file.Length);
                int tail = random.Next(other.Length);
                how = $"head {cut} + tail from {tail}";
                return [.. file[..cut], .. other[tail..]];
            }

            default:
            {
                int extra = 1 + random.Next(32);
                byte[] garbage = new byte[extra];
                random.NextBytes(garbage);
                how = $"{extra} trailing bytes";
                return [.. file, .. garbage];
            }
        }
    }
}
