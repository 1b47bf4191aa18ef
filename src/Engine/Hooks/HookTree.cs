using ReconService.Engine.Model;
using TorchSharp;

namespace ReconService.Engine.Hooks;

/// <summary>Where and for which layer a hook runs.</summary>
/// <param name="Location">Hook location, e.g. <c>resid.torso.attn.qk_logits</c>.</param>
/// <param name="Layer">Layer index for per-layer locations; null otherwise.</param>
public readonly record struct HookContext(string Location, int? Layer);

/// <summary>A forward-stage hook: returns the value that flows on (the input itself to observe, a new value to edit).</summary>
public delegate Dual ForwardHook(Dual x, HookContext context);

/// <summary>
/// A backward-stage hook: observes the gradient of the differentiated scalar with respect to the location's value.
/// The gradient belongs to the request's dispose scope: detach a copy from it to keep it.
/// </summary>
public delegate void BackwardHook(torch.Tensor gradient, HookContext context);

/// <summary>
/// The reference's hook tree (TDB's <c>TransformerHooks</c>), built per request: every activation location of
/// the model has a <c>fwd</c>, a <c>bwd</c> and a <c>fwd2</c> stage, addressed by dotted path
/// (<c>resid.torso.ln_attn.scale.fwd</c>) and optionally bound to a set of layers. At a location the model runs
/// the <c>fwd</c> hooks in order, then attaches a gradient probe if <c>bwd</c> hooks exist, then runs the
/// <c>fwd2</c> hooks. Hooks see and return <see cref="Dual"/> values, so a detach hook stops reverse-mode and
/// forward-mode derivatives alike. The model's weights are never touched by hooks.
/// </summary>
public sealed class HookTree
{
    private static readonly string[] NormHooks = ["post_mean_subtraction", "scale", "post_scale"];
    private static readonly string[] AttnHooks = ["q", "k", "v", "qk_logits", "qk_softmax_denominator", "qk_probs", "v_out"];

    /// <summary>Every per-layer location (under <c>resid.torso</c>).</summary>
    public static IReadOnlyList<string> LayerLocations { get; } =
    [
        .. NormHooks.Select(h => "resid.torso.ln_attn." + h),
        .. AttnHooks.Select(h => "resid.torso.attn." + h),
        "resid.torso.delta_attn", "resid.torso.post_attn",
        .. NormHooks.Select(h => "resid.torso.ln_mlp." + h),
        "resid.torso.mlp.pre_act", "resid.torso.mlp.post_act", "resid.torso.delta_mlp", "resid.torso.post_mlp",
    ];

    /// <summary>Every location, per-layer or not.</summary>
    public static IReadOnlyList<string> Locations { get; } =
        ["resid.post_emb", .. LayerLocations, .. NormHooks.Select(h => "resid.ln_f." + h), "logits"];

    private static readonly HashSet<string> KnownLocations = [.. Locations];

    private readonly Dictionary<string, List<(ForwardHook Hook, IReadOnlySet<int>? Layers)>> _forward = [];
    private readonly Dictionary<string, List<(ForwardHook Hook, IReadOnlySet<int>? Layers)>> _forward2 = [];
    private readonly Dictionary<string, List<(BackwardHook Hook, IReadOnlySet<int>? Layers)>> _backward = [];
    private readonly List<(torch.Tensor Probe, HookContext Context, List<BackwardHook> Hooks)> _probes = [];

    /// <summary>Appends a forward-stage hook at <paramref name="path"/>, which ends in <c>.fwd</c> or <c>.fwd2</c>.</summary>
    /// <param name="path">E.g. <c>resid.torso.attn.q.fwd</c>.</param>
    /// <param name="hook">The hook.</param>
    /// <param name="layers">Layers it applies to; all when null.</param>
    /// <returns>This tree, for chaining.</returns>
    /// <exception cref="ArgumentException">Unknown location or stage.</exception>
    public HookTree Append(string path, ForwardHook hook, IEnumerable<int>? layers = null)
    {
        var (location, stage) = Split(path);
        var table = stage switch
        {
            "fwd" => _forward,
            "fwd2" => _forward2,
            _ => throw new ArgumentException($"Forward hooks attach to a '.fwd' or '.fwd2' stage, got '{path}'", nameof(path)),
        };
        Add(table, location, hook, layers);
        return this;
    }

    /// <summary>Appends a backward-stage hook at <paramref name="path"/>, which ends in <c>.bwd</c>.</summary>
    /// <exception cref="ArgumentException">Unknown location or stage.</exception>
    public HookTree AppendBackward(string path, BackwardHook hook, IEnumerable<int>? layers = null)
    {
        var (location, stage) = Split(path);
        if (stage != "bwd") throw new ArgumentException($"Backward hooks attach to a '.bwd' stage, got '{path}'", nameof(path));
        Add(_backward, location, hook, layers);
        return this;
    }

    /// <summary>Whether any hook of any stage is bound at <paramref name="location"/> for <paramref name="layer"/>.</summary>
    public bool Has(string location, int? layer) =>
        Any(_forward, location, layer) || Any(_forward2, location, layer) || Any(_backward, location, layer);

    /// <summary>Runs the hooks at <paramref name="location"/> on <paramref name="x"/>; see the class remarks for the order.</summary>
    public Dual Run(string location, Dual x, int? layer)
    {
        var context = new HookContext(location, layer);
        x = RunForward(_forward, location, x, context);
        if (_backward.TryGetValue(location, out var backward) && x.Value.requires_grad)
        {
            var hooks = backward.Where(h => Applies(h.Layers, layer)).Select(h => h.Hook).ToList();
            if (hooks.Count > 0)
            {
                var probe = torch.zeros_like(x.Value).requires_grad_(true);
                _probes.Add((probe, context, hooks));
                x = new Dual(x.Value + probe, x.Tangent);
            }
        }
        return RunForward(_forward2, location, x, context);
    }

    /// <summary>Gradient probes attached so far (zeros added at locations with <c>bwd</c> hooks).</summary>
    internal IReadOnlyList<torch.Tensor> Probes => _probes.Select(p => p.Probe).ToList();

    /// <summary>Hands each probe's gradient (same order as <see cref="Probes"/>) to its backward hooks.</summary>
    internal void DeliverGradients(IReadOnlyList<torch.Tensor> gradients)
    {
        for (var i = 0; i < _probes.Count; i++)
            foreach (var hook in _probes[i].Hooks) hook(gradients[i], _probes[i].Context);
    }

    private static Dual RunForward(Dictionary<string, List<(ForwardHook Hook, IReadOnlySet<int>? Layers)>> table,
        string location, Dual x, HookContext context)
    {
        if (!table.TryGetValue(location, out var hooks)) return x;
        foreach (var (hook, layers) in hooks)
            if (Applies(layers, context.Layer)) x = hook(x, context);
        return x;
    }

    private static bool Any<T>(Dictionary<string, List<(T Hook, IReadOnlySet<int>? Layers)>> table, string location, int? layer) =>
        table.TryGetValue(location, out var hooks) && hooks.Any(h => Applies(h.Layers, layer));

    private static bool Applies(IReadOnlySet<int>? layers, int? layer) => layers is null || (layer is int l && layers.Contains(l));

    private static void Add<T>(Dictionary<string, List<(T Hook, IReadOnlySet<int>? Layers)>> table, string location, T hook, IEnumerable<int>? layers)
    {
        if (!table.TryGetValue(location, out var list)) table[location] = list = [];
        list.Add((hook, layers is null ? null : layers.ToHashSet()));
    }

    private static (string Location, string Stage) Split(string path)
    {
        var dot = path.LastIndexOf('.');
        var location = dot < 0 ? path : path[..dot];
        if (dot < 0 || !KnownLocations.Contains(location))
            throw new ArgumentException($"Unknown hook path '{path}': expected <location>.<fwd|bwd|fwd2> with location one of {string.Join(", ", Locations)}", nameof(path));
        return (location, path[(dot + 1)..]);
    }
}

/// <summary>Hooks the reconstitution functions build, named as in TDB's <c>reconstituted.py</c>.</summary>
public static class StandardHooks
{
    /// <summary>TDB's <c>detach_hook</c>: the value becomes a constant for all derivatives.</summary>
    public static readonly ForwardHook Detach = (x, _) => x.Detach();
}
