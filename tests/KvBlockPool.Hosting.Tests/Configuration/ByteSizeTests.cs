using KvBlockPool.Hosting.Configuration;

namespace KvBlockPool.Hosting.Tests.Configuration;

public sealed class ByteSizeTests
{
    [Theory]
    [InlineData("4096", 4096L)]
    [InlineData("0", 0L)]
    [InlineData("512B", 512L)]
    [InlineData("4KiB", 4096L)]
    [InlineData("256MiB", 256L * 1024 * 1024)]
    [InlineData("256mib", 256L * 1024 * 1024)]
    [InlineData(" 2 GiB ", 2L * 1024 * 1024 * 1024)]
    [InlineData("1.5GiB", 3L * 512 * 1024 * 1024)]
    [InlineData("1TiB", 1L << 40)]
    [InlineData("500MB", 500_000_000L)]
    [InlineData("2GB", 2_000_000_000L)]
    [InlineData("3KB", 3_000L)]
    [InlineData("1TB", 1_000_000_000_000L)]
    [InlineData("-1GiB", -(1L << 30))]
    public void Sizes_with_and_without_units_are_read(string text, long expected)
    {
        Assert.True(ByteSize.TryParse(text, out long bytes));
        Assert.Equal(expected, bytes);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("256 parsecs")]
    [InlineData("MiB")]
    [InlineData("1.5")]
    [InlineData("1e9")]
    [InlineData("12 MiB extra")]
    [InlineData("9999999TiB")]
    [InlineData("99999999999999999999")]
    [InlineData("0x100")]
    public void Anything_else_is_not_a_size(string? text)
    {
        Assert.False(ByteSize.TryParse(text, out _));
    }
}
