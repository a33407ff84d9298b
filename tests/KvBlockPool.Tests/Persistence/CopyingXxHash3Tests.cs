using System.IO.Hashing;
using KvBlockPool.Persistence;

namespace KvBlockPool.Tests.Persistence;

/// <summary>
/// The restore's fused hash-and-copy must be XXH3-64 exactly (the format's checksum, as
/// <see cref="XxHash3"/> computes it) for every length and every way the input is split into calls, and must copy
/// every byte, whether or not the destination is aligned for non-temporal stores.
/// </summary>
public sealed unsafe class CopyingXxHash3Tests
{
    public static TheoryData<bool> Modes => new() { true, false };

    [Theory]
    [MemberData(nameof(Modes))]
    public void Random_inputs_split_at_random_hash_as_XxHash3_and_are_copied_whole(bool fused)
    {
        var random = new Random(20261125);
        for (int trial = 0; trial < 2000; trial++)
        {
            int length = trial switch
            {
                < 1000 => random.Next(0, 3000),
                < 1900 => random.Next(0, 40_000),
                _ => random.Next(0, 300_000),
            };
            byte[] input = new byte[length];
            random.NextBytes(input);
            int misalignment = random.Next(2) == 0 ? 0 : random.Next(1, 64);
            byte[] output = new byte[length + 64];
            var hash = new CopyingXxHash3(fused);
            fixed (byte* source = input)
            fixed (byte* destination = output)
            {
                for (int at = 0; at < length;)
                {
                    int n = Math.Min(length - at, NextSplit(random));
                    hash.CopyAndAppend(source + at, destination + misalignment + at, n);
                    at += n;
                }
            }

            Assert.True(XxHash3.HashToUInt64(input) == hash.GetCurrentHashAsUInt64(), $"trial {trial}: {length} bytes");
            Assert.True(input.AsSpan().SequenceEqual(output.AsSpan(misalignment, length)), $"trial {trial}: copy differs");
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(63)]
    [InlineData(64)]
    [InlineData(65)]
    [InlineData(239)]
    [InlineData(240)]
    [InlineData(241)]
    [InlineData(1023)]
    [InlineData(1024)]
    [InlineData(1025)]
    [InlineData(1088)]
    [InlineData(16 * 1024)]
    [InlineData((16 * 1024) + 1)]
    [InlineData(65_536)]
    public void Lengths_at_stripe_block_and_short_input_edges_hash_right_in_any_split(int length)
    {
        byte[] input = new byte[length];
        new Random(length).NextBytes(input);
        ulong expected = XxHash3.HashToUInt64(input);
        foreach (int split in new[] { 1, 7, 64, 240, 241, 1024, int.MaxValue })
        {
            var hash = new CopyingXxHash3();
            byte[] output = new byte[length];
            fixed (byte* source = input)
            fixed (byte* destination = output)
            {
                for (int at = 0; at < length;)
                {
                    int n = Math.Min(length - at, split);
                    hash.CopyAndAppend(source + at, destination + at, n);
                    at += n;
                }
            }

            Assert.True(expected == hash.GetCurrentHashAsUInt64(), $"{length} bytes in calls of {split}");
            Assert.Equal(input, output);
        }
    }

    [Fact]
    public void The_hash_can_be_read_mid_input_and_after_a_reset_starts_over()
    {
        byte[] input = new byte[5000];
        new Random(3).NextBytes(input);
        byte[] output = new byte[input.Length];
        var hash = new CopyingXxHash3();
        fixed (byte* source = input)
        fixed (byte* destination = output)
        {
            int at = 0;
            foreach (int end in new[] { 100, 240, 300, 1024, 2049, 5000 })
            {
                hash.CopyAndAppend(source + at, destination + at, end - at);
                at = end;
                Assert.Equal(XxHash3.HashToUInt64(input.AsSpan(0, end)), hash.GetCurrentHashAsUInt64());
            }

            hash.Reset();
            Assert.Equal(XxHash3.HashToUInt64([]), hash.GetCurrentHashAsUInt64());
            hash.CopyAndAppend(source, destination, 4000);
            Assert.Equal(XxHash3.HashToUInt64(input.AsSpan(0, 4000)), hash.GetCurrentHashAsUInt64());
        }
    }

    private static int NextSplit(Random random) => random.Next(4) switch
    {
        0 => random.Next(1, 16),
        1 => random.Next(1, 400),
        2 => random.Next(1, 9000),
        _ => 64 * random.Next(1, 200),
    };
}
