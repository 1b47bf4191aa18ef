using System.Text.Json;
using ReconService.Models.Tensors;

namespace ReconService.Api.Tests.Tensors;

/// <summary>Request text held in pooled arrays for the length of a scope (one HTTP request), and unreadable after it.</summary>
public sealed class TensorTextPoolTests
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private static (float[] Values, string Json) Payload(int count, bool escape = false)
    {
        var values = Enumerable.Range(0, count).Select(i => i * 0.37f - 5f).ToArray();
        var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
        var base64 = Convert.ToBase64String(bytes);
        if (escape) base64 = base64.Replace("+", "\\u002B").Replace("/", "\\u002F");
        return (values, $"{{\"dtype\":\"float32\",\"shape\":[{count}],\"data\":\"{base64}\"}}");
    }

    private static float[] Decode(TensorPayload payload)
    {
        var decoded = new float[payload.ElementCount];
        Assert.Null(payload.TryDecodeTo(System.Runtime.InteropServices.MemoryMarshal.AsBytes(decoded.AsSpan())));
        return decoded;
    }

    [Fact]
    public void InsideAScopeTextDecodesAndIsGoneWhenTheScopeEnds()
    {
        var (values, json) = Payload(1000);
        TensorPayload payload;
        using (TensorTextPool.Begin())
        {
            payload = JsonSerializer.Deserialize<TensorPayload>(json, Json)!;
            Assert.Equal(values, Decode(payload));
            Assert.Equal((values.Length * 4 + 2) / 3 * 4, payload.Base64Utf8.Length);
        }
        Assert.Throws<InvalidOperationException>(() => payload.Base64Utf8);
        Assert.Throws<InvalidOperationException>(() => payload.TryDecodeTo(new byte[values.Length * 4]));
    }

    [Fact]
    public void OutsideAScopeTextStaysReadable()
    {
        var (values, json) = Payload(100);
        TensorPayload payload;
        using (TensorTextPool.Begin()) { }
        payload = JsonSerializer.Deserialize<TensorPayload>(json, Json)!;
        Assert.Equal(values, Decode(payload));
        GC.Collect();
        Assert.Equal(values, Decode(payload));
    }

    [Fact]
    public void EscapedTextIsUnescapedIntoThePooledArray()
    {
        var (values, json) = Payload(300, escape: true);
        Assert.Contains("\\u002", json);
        using var scope = TensorTextPool.Begin();
        var payload = JsonSerializer.Deserialize<TensorPayload>(json, Json)!;
        Assert.Equal(values, Decode(payload));
    }

    [Fact]
    public async Task ScopesOnOtherFlowsDoNotTakeEachOthersText()
    {
        // Two concurrent "requests": ending one scope must not empty the other's payloads.
        var (values, json) = Payload(5000);
        var first = new TaskCompletionSource<TensorPayload>();
        var release = new TaskCompletionSource();
        var holder = Task.Run(async () =>
        {
            using var scope = TensorTextPool.Begin();
            first.SetResult(JsonSerializer.Deserialize<TensorPayload>(json, Json)!);
            await release.Task;
        });
        var held = await first.Task;
        await Task.Run(() =>
        {
            using var scope = TensorTextPool.Begin();
            Assert.Equal(values, Decode(JsonSerializer.Deserialize<TensorPayload>(json, Json)!));
        });
        Assert.Equal(values, Decode(held));
        release.SetResult();
        await holder;
        Assert.Throws<InvalidOperationException>(() => held.Base64Utf8);
    }

    [Fact]
    public void NestedScopeEndsOnlyItsOwnPayloads()
    {
        var (values, json) = Payload(64);
        using var outer = TensorTextPool.Begin();
        var kept = JsonSerializer.Deserialize<TensorPayload>(json, Json)!;
        TensorPayload inner;
        using (TensorTextPool.Begin()) inner = JsonSerializer.Deserialize<TensorPayload>(json, Json)!;
        Assert.Throws<InvalidOperationException>(() => inner.Base64Utf8);
        Assert.Equal(values, Decode(kept));
        var afterInner = JsonSerializer.Deserialize<TensorPayload>(json, Json)!;
        outer.Dispose();
        Assert.Throws<InvalidOperationException>(() => afterInner.Base64Utf8);
    }
}
