using ReconService.Engine.Operations;
using ReconService.Models.Tensors.Safetensors;
using ReconService.Models.Wire;

namespace ReconService.Api.Pipeline;

/// <summary>Maps engine endpoints onto <see cref="EnginePipeline"/>: one line per endpoint.</summary>
public static class EngineEndpoints
{
    /// <summary>
    /// <c>POST pattern</c>: binds <typeparamref name="TRequest"/> (JSON or safetensors), runs the operation
    /// <paramref name="operation"/> makes of it through the pipeline, answers <typeparamref name="TResponse"/> (JSON or
    /// safetensors, by <c>Accept</c>); documents both media types and the problems the pipeline can answer.
    /// </summary>
    public static RouteHandlerBuilder MapOperation<TRequest, TResult, TResponse>(this IEndpointRouteBuilder group, string pattern,
        Func<TRequest, HttpContext, IEngineOperation<TResult>> operation, Func<TResult, Answer, TResponse> answer)
        where TRequest : TensorRequest where TResult : IEngineResult =>
        group.MapOperation<TRequest, TResult, TResponse>(pattern, (request, http) => ValueTask.FromResult(operation(request, http)), answer);

    /// <summary><see cref="MapOperation{TRequest,TResult,TResponse}(IEndpointRouteBuilder,string,Func{TRequest,HttpContext,IEngineOperation{TResult}},Func{TResult,Answer,TResponse})"/> with an operation made asynchronously (a prompt to tokenize).</summary>
    public static RouteHandlerBuilder MapOperation<TRequest, TResult, TResponse>(this IEndpointRouteBuilder group, string pattern,
        Func<TRequest, HttpContext, ValueTask<IEngineOperation<TResult>>> operation, Func<TResult, Answer, TResponse> answer)
        where TRequest : TensorRequest where TResult : IEngineResult
    {
        var endpoint = new EngineEndpoint<TRequest, TResult, TResponse>(operation, answer);
        return group.MapPost(pattern, (HttpContext http, EnginePipeline pipeline) => pipeline.RunAsync(http, endpoint))
            .Accepts<TRequest>("application/json", SafetensorsMediaType.Name)
            .Produces<TResponse>(StatusCodes.Status200OK, "application/json", SafetensorsMediaType.Name)
            .ProducesProblem(StatusCodes.Status406NotAcceptable)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity)
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
    }

    /// <summary>The route value <paramref name="name"/> of the request.</summary>
    public static string Route(this HttpContext http, string name) => http.Request.RouteValues[name]?.ToString() ?? "";
}
