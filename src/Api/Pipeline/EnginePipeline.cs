using System.Diagnostics;
using ReconService.Api.Caching;
using ReconService.Api.Diagnostics;
using ReconService.Api.Hosting;
using ReconService.Api.Limits;
using ReconService.Api.Logging;
using ReconService.Engine;
using ReconService.Engine.Operations;
using ReconService.Models.Tensors;
using ReconService.Models.Wire;
using Serilog;

using TorchSharp;

namespace ReconService.Api.Pipeline;

/// <summary>
/// The request path of every engine endpoint, in one fixed order:
/// ready → bind (strict) → plan → limits → cache → queue (memory budget) → dispose scope → run → reduce → encode → release.
/// A request counts as in flight for the drain (<see cref="DrainState"/>) from before "ready" until its answer is written.
/// Every refusal on the way is an exception answered by <see cref="Errors.ProblemExceptionHandler"/>.
/// </summary>
/// <remarks>
/// An answer is written from its tensors' own memory, a chunk at a time, after the engine slot is given back; until it
/// is written, that memory stays reserved in the memory budget (<see cref="EngineLease.KeepForAnswer"/>). Only answers
/// the cache takes (at most <c>Cache:SizeLimitBytes</c>) are copied into bytes.
/// </remarks>
public sealed class EnginePipeline(EngineHost host, RequestBinder binder, IOutputReduction reduction, RequestLimits limits,
    AnswerEncoders encoders, AnswerCache cache, EngineQueue queue, AnswerStatistics answers, IDiagnosticContext log, ReconMetrics metrics, DrainState drain)
{
    /// <summary>Serves one request to <paramref name="endpoint"/>.</summary>
    public async Task RunAsync<TRequest, TResult, TResponse>(HttpContext http, EngineEndpoint<TRequest, TResult, TResponse> endpoint)
        where TRequest : TensorRequest where TResult : IEngineResult
    {
        using var inFlight = drain.Enter();                                               // ready: 503 while draining
        var engine = host.Engine;                                                          //   or while the model loads
        using var body = await RequestBody.ReadAsync(http.Request);                       // bind: the body's bytes (413),
        var request = binder.Bind<TRequest>(http.Request, body.Memory);                   //   strictly, JSON or safetensors (400 naming the field; 415)
        var operation = await endpoint.Operation(request, http);                          //   its tensors checked against their data (400)
        var plan = reduction.Plan(engine.Plan(operation), request);                       // plan: validated, output shapes as reduced (422)
        limits.Check(plan, queue.BudgetBytes);                                            // limits: tokens, reduced answer size, memory (422)
        Describe(request, plan, http);
        var encoder = encoders.For(http.Request);                                         //   the answer's media type (406)
        var expected = encoder.ExpectedBytes(TensorBytes(plan));
        var answer = cache.Caches(expected)                                               // cache: small answers, as bytes
            ? await cache.GetOrRunAsync(http, body.Memory, encoder.MediaType, expected, async cancel =>
            {
                using var ran = await RunAsync(engine, plan, request, endpoint, encoder, http, cancel);
                return await EncodedAnswer.CopyAsync(ran, cancel);
            })
            : await RunAsync(engine, plan, request, endpoint, encoder, http, http.RequestAborted);
        await answers.WriteAsync(answer, http);                                           // release: the answer's memory once written
    }

    /// <summary>Queue, dispose scope, run, reduce, encode: the answer, holding its tensors and their share of the budget.</summary>
    private async Task<IAnswerBody> RunAsync<TRequest, TResult, TResponse>(IReconstitutionEngine engine, EnginePlan<TResult> plan, TRequest request,
        EngineEndpoint<TRequest, TResult, TResponse> endpoint, IAnswerEncoder encoder, HttpContext http, CancellationToken cancel)
        where TRequest : TensorRequest where TResult : IEngineResult
    {
        var slot = await queue.EnterAsync(plan.WorkingMemoryBytes, cancel);               // queue: a slot and the memory (429, 503)
        var answer = new Answer(request, plan.Inputs, reduction, http.RequestServices);
        try
        {
            IAnswerBody body;
            IntraOpThreads.Apply(queue.ThreadsForThisRequest());
            var started = Stopwatch.GetTimestamp();
            using (torch.NewDisposeScope())                                               // dispose scope: every tensor of the request
            {
                var result = engine.Run(plan);                                            // run (422 on overflow)
                var response = endpoint.Answer(result, answer);                           // reduce: answer tensors kept past the scope
                body = encoder.Prepare(response, answer.Memory);                          // encode: from the tensors' own memory
            }
            metrics.RecordEngineTime(OperationName(http), Stopwatch.GetElapsedTime(started));
            slot.KeepForAnswer(body.HeldBytes);                                           // the slot back; the answer's memory stays reserved
            answer.Memory.Hold(slot);
            return body;
        }
        catch
        {
            answer.Memory.Dispose();
            slot.Dispose();
            throw;
        }
    }

    /// <summary>Bytes of the values of the plan's (reduced) outputs.</summary>
    private static long TensorBytes<TResult>(EnginePlan<TResult> plan) where TResult : IEngineResult =>
        plan.Outputs.Sum(o => o.Elements * (TensorDtypes.FromWireName(o.Dtype)?.Size() ?? sizeof(float)));

    /// <summary>
    /// The endpoint's name (<c>activations</c>, <c>gradients</c>, …), else its route pattern: the <c>operation</c> tag of
    /// the service's metrics and part of the cache key, so it must tell endpoints apart (names are unique, and so are patterns).
    /// </summary>
    public static string OperationName(HttpContext http) => http.GetEndpoint() switch
    {
        { } e when e.Metadata.GetMetadata<IEndpointNameMetadata>() is { } name => name.EndpointName,
        RouteEndpoint route => route.RoutePattern.RawText ?? route.DisplayName ?? "unknown",
        { DisplayName: { } display } => display,
        _ => "unknown",
    };

    /// <summary>The request-completed event's fields: tokens (the first input's, or a forward pass's), layer, node type, autoencoder.</summary>
    private void Describe<TRequest, TResult>(TRequest request, EnginePlan<TResult> plan, HttpContext http) where TResult : IEngineResult
    {
        long? tokens = plan.Inputs.Count > 0 ? plan.Inputs[0].Shape[^2] : (plan.Operation as ForwardOperation)?.Tokens.Length ?? (plan.Operation as ITokenOperation)?.TokenCount;
        if (tokens is not null) log.Set(RequestFields.Tokens, tokens);
        foreach (var (field, property) in LoggedFields<TRequest>.Properties)
            if (property.GetValue(request) is { } value) log.Set(field, value);
        if (http.Request.RouteValues.TryGetValue("name", out var name)) log.Set(RequestFields.Autoencoder, name);
    }

    /// <summary>The request properties logged as fields, found once per request type.</summary>
    private static class LoggedFields<TRequest>
    {
        public static readonly (string Field, System.Reflection.PropertyInfo Property)[] Properties =
            new[] { ("LayerIndex", RequestFields.Layer), ("NodeType", RequestFields.NodeType), ("Autoencoder", RequestFields.Autoencoder) }
                .Select(p => (p.Item2, typeof(TRequest).GetProperty(p.Item1)))
                .Where(p => p.Item2 is not null)
                .Select(p => (p.Item1, p.Item2!))
                .ToArray();
    }
}

/// <summary>An engine endpoint: how its request becomes an operation, and how the operation's result becomes its response.</summary>
/// <param name="Operation">Request (and route values) → operation; may tokenize.</param>
/// <param name="Answer">Result → response record, its tensors through <see cref="Answer.Tensor"/>.</param>
public sealed record EngineEndpoint<TRequest, TResult, TResponse>(
    Func<TRequest, HttpContext, ValueTask<IEngineOperation<TResult>>> Operation,
    Func<TResult, Answer, TResponse> Answer) where TRequest : TensorRequest where TResult : IEngineResult;
