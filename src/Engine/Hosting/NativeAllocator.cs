using System.Runtime.InteropServices;

namespace ReconService.Engine.Hosting;

/// <summary>
/// Process-wide tuning of the C allocator that libtorch's CPU tensors come from (glibc <c>malloc</c>).
/// </summary>
/// <remarks>
/// By default glibc serves every block over 32 MiB (attention at 1024 tokens is 48 MiB, logprobs 200 MiB) with a
/// fresh <c>mmap</c> and unmaps it on free, so each request pays a page fault per 4 KiB page of every large result
/// and temporary; on the benchmark machine a fresh zeroed 48 MiB tensor cost ~180 ms, more than the matmul that fills it.
/// Keeping freed memory in the heap makes those allocations reuse already-mapped pages. The price is that
/// resident memory stays at its high-water mark instead of shrinking after a large request.
/// </remarks>
public static class NativeAllocator
{
    private const int MTrimThreshold = -1, MTopPad = -2, MMmapMax = -4;

    /// <summary>
    /// Serves large blocks from the heap and never trims it (<c>mallopt</c>: <c>M_MMAP_MAX</c> 0, <c>M_TRIM_THRESHOLD</c>
    /// and <c>M_TOP_PAD</c> large). Call once at startup, before large tensors exist. Does nothing off glibc.
    /// </summary>
    /// <returns>Whether the settings were applied.</returns>
    public static bool RetainFreedMemory()
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            return Mallopt(MMmapMax, 0) == 1 && Mallopt(MTrimThreshold, int.MaxValue) == 1 && Mallopt(MTopPad, 64 << 20) == 1;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false; // not glibc (e.g. musl): nothing to tune
        }
    }

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int Mallopt(int param, int value);
}
