using ReconService.Api.Caching;
using ReconService.Api.Hosting;
using ReconService.Api.Limits;
using ReconService.Api.Logging;
using ReconService.Engine.Operations;
using ReconService.Models.Wire;
using Serilog;
using TorchSharp;

namespace ReconService.Api.Pipeline;

/// <summary>
/// The request path of every engine endpoint, in one fixed order:
/// ready → bind (strict) → plan → limits → cache → queue (memory budget) → dispose scope → run → reduce → encode → release.
/// Every refusal on the way is an exception answered by <see cref="Errors.ProblemExceptionHandler"/>.
/// </summary>
public sealed class EnginePipeline(EngineHost host, RequestBinder binder, IOutputReduction reduction, RequestLimits limits,
    AnswerEncoders encoders, AnswerCache cache, EngineQueue queue, IDiagnosticContext log)
{
    /// <summary>Serves one request to <paramref name="endpoint"/>.</summary>
    public async Task<IResult> RunAsync<TRequest, TResult, TResponse>(HttpContext http, EngineEndpoint<TRequest, TResult, TResponse> endpoint)
        where TRequest : TensorRequest where TResult : IEngineResult
    {
        var engine = host.Engine;                                                          // ready: 503 while the model loads
        using var body = await RequestBody.ReadAsync(http.Request);                       // bind: the body's bytes (413),
        var request = binder.Bind<TRequest>(http.Request, body.Memory);                   //   strictly (400 naming the field; 415)
        var operation = await endpoint.Operation(request, http);                          //   its tensors checked against their data (400)
        var plan = reduction.Plan(engine.Plan(operation), request);                       // plan: validated, output shapes (422)
        limits.Check(plan, queue.BudgetBytes);                                            // limits: tokens, answer size, memory (422)
        Describe(plan);
        var encoder = encoders.For(http.Request);                                         //   the answer's media type (406)
        var answer = await cache.GetOrRunAsync(http, body.Memory, encoder.MediaType, async cancel =>  // cache: encoded answers
        {
            using var slot = await queue.EnterAsync(plan.WorkingMemoryBytes, cancel);     // queue: a slot and the memory (429, 503)
            IntraOpThreads.Apply(queue.ThreadsForThisRequest());
            using var scope = torch.NewDisposeScope();                                    // dispose scope: every tensor of the request
            var result = engine.Run(plan);                                                // run (422 on overflow)
            var response = endpoint.Answer(result, new Answer(request, reduction, http.RequestServices)); // reduce
            return encoder.Encode(response, plan.OutputElements);                         // encode
        });                                                                               // release: tensors, slot, memory
        return answer;
    }

    private void Describe<TResult>(EnginePlan<TResult> plan) where TResult : IEngineResult
    {
        if (plan.Inputs.Count > 0) log.Set(RequestFields.Tokens, plan.Inputs[0].Shape[^2]);
        switch (plan.Operation)
        {
            case ActivationsOperation a: Layer(a.Spec.LayerIndex, a.Spec.NodeType); break;
            case GradientOperation g: Layer(g.Spec.LayerIndex, g.Spec.NodeType); break;
            case JvpOperation j: Layer(j.Spec.LayerIndex, j.Spec.NodeType); break;
            case ResidDeltaAttnOperation r: Layer(r.LayerIndex); break;
            case ResidDeltaMlpOperation r: Layer(r.LayerIndex); break;
            case AttentionValuesOperation v: Layer(v.LayerIndex); break;
            case EncodeOperation e: Layer(e.LayerIndex); log.Set(RequestFields.Autoencoder, e.Autoencoder); break;
            case LatentGradientOperation e: Layer(e.LayerIndex); log.Set(RequestFields.Autoencoder, e.Autoencoder); break;
            case ForwardOperation f: log.Set(RequestFields.Tokens, f.Tokens.Length); break;
        }
        void Layer(int layer, Models.NodeType? nodeType = null)
        {
            log.Set(RequestFields.Layer, layer);
            if (nodeType is { } n) log.Set(RequestFields.NodeType, n);
        }
    }
}

/// <summary>An engine endpoint: how its request becomes an operation, and how the operation's result becomes its response.</summary>
/// <param name="Operation">Request (and route values) → operation; may tokenize.</param>
/// <param name="Answer">Result → response record, its tensors through <see cref="Answer.Tensor"/>.</param>
public sealed record EngineEndpoint<TRequest, TResult, TResponse>(
    Func<TRequest, HttpContext, ValueTask<IEngineOperation<TResult>>> Operation,
    Func<TResult, Answer, TResponse> Answer) where TRequest : TensorRequest where TResult : IEngineResult;
