using ReconService.Api.Caching;

namespace ReconService.Api.Tensors;

/// <summary>Frees the tensors a request's response payloads read from once the response has been written.</summary>
public static class TensorRelease
{
    /// <summary>
    /// Collects the tensor memory that <see cref="TensorCodec.Encode"/> lends to this request's payloads and disposes it
    /// after the response is sent (at once if the handler throws). With the response cache on, a cached answer must stay
    /// readable, so its tensors are left to the finalizer instead.
    /// </summary>
    public static RouteGroupBuilder WithTensorRelease(this RouteGroupBuilder group)
    {
        group.AddEndpointFilter(async (context, next) =>
        {
            if (context.HttpContext.RequestServices.GetRequiredService<ResponseCache>().Enabled) return await next(context);
            var owned = TensorMemory.BeginRequest();
            try
            {
                var result = await next(context);
                foreach (var memory in owned) context.HttpContext.Response.RegisterForDispose(memory);
                return result;
            }
            catch
            {
                foreach (var memory in owned) ((IDisposable)memory).Dispose();
                throw;
            }
            finally
            {
                TensorMemory.EndRequest();
            }
        });
        return group;
    }
}
