#!/usr/bin/env python3
"""The researcher's comparison of issue 11: OpenAI's Transformer Debugger (TDB) computing in this process against
ReconService over HTTP through the Python client (reconclient), on the same weights and the same residuals.

For MLP post-activations and attention probabilities, activation and gradient, at each token count, rounds alternate
one TDB call with one client call per transport, so that load on a shared machine falls on all of them alike; the
figures are medians. Client times include encoding the request and decoding the answer to numpy. Before timing, each
case checks that the service's answer matches TDB's. Then: the client's decode time alone for each answer, the top-k
(k = 32) against the full MLP post answer at the largest token count, and the decode of a 4 MiB answer without HTTP.

Needs Debian's python3-torch (1.13), python3-numpy, python3-requests, python3-pydantic, python3-aiohttp and
libopenblas0-pthread, a checkout of openai/transformer-debugger (--tdb-root or TDB_ROOT), GPT-2-small-shaped weights
in Hugging Face layout (model.safetensors; ../shared/tools/peer/make_gpt2_small_shaped.py writes random ones), and a
service on the same weights with its cache off:

    Cache__Enabled=false dotnet run -c Release --project src/Api --urls http://127.0.0.1:5817 -- --Model:Path=/work/peer-model
    TDB_ROOT=/work/tdb /usr/bin/python3 bench/python/tdb_compare.py --model /work/peer-model --url http://127.0.0.1:5817

Last line: the geometric mean of TDB / service over the 12 cases, per transport (target >= 1.0 over safetensors)."""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
import types

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "clients", "python"))
from reconclient import Output, ReconClient, ReconError, decode_answer, safetensors  # noqa: E402


def import_tdb(root: str):
    """TDB's modules on torch 1.13: tiktoken is only asked for the vocabulary size, and torch.func is functorch."""
    fake = types.ModuleType("tiktoken")
    fake.Encoding = object
    fake.get_encoding = lambda _name: types.SimpleNamespace(n_vocab=50257)
    sys.modules.setdefault("tiktoken", fake)
    sys.path.insert(0, root)
    import torch
    if not hasattr(torch, "func"):
        import functorch
        shim = types.ModuleType("torch.func")
        shim.jvp = functorch.jvp
        sys.modules["torch.func"] = shim
    from neuron_explainer.activations.derived_scalars.indexing import AttentionTraceType, PreOrPostAct
    from neuron_explainer.activations.derived_scalars.reconstituter_class import ActivationReconstituter
    from neuron_explainer.models.model_component_registry import NodeType, PassType
    from neuron_explainer.models.transformer import Transformer, TransformerConfig
    return types.SimpleNamespace(torch=torch, AttentionTraceType=AttentionTraceType, PreOrPostAct=PreOrPostAct,
                                 ActivationReconstituter=ActivationReconstituter, NodeType=NodeType, PassType=PassType,
                                 Transformer=Transformer, TransformerConfig=TransformerConfig)


def load_transformer(tdb, folder: str):
    """TDB's Transformer holding the Hugging Face GPT-2 weights of ``folder`` (Conv1D [in, out] -> Linear [out, in])."""
    torch = tdb.torch
    with open(os.path.join(folder, "model.safetensors"), "rb") as f:
        hf, _ = safetensors.unpack(f.read())
    n_layers = 1 + max(int(k.split(".")[1]) for k in hf if k.startswith("h."))
    d_model = hf["wte.weight"].shape[1]
    n_heads = d_model // 64

    def t(name, transpose=False):
        a = hf[name].T if transpose else hf[name]
        return torch.from_numpy(np.array(a, dtype=np.float32))

    state = {"tok_embed.weight": t("wte.weight"), "pos_embed.weight": t("wpe.weight"), "unembed.weight": t("wte.weight"),
             "final_ln.weight": t("ln_f.weight"), "final_ln.bias": t("ln_f.bias")}
    for i in range(n_layers):
        src, dst = f"h.{i}.", f"xf_layers.{i}."
        qkv_w, qkv_b = t(src + "attn.c_attn.weight", True), t(src + "attn.c_attn.bias")
        for j, part in enumerate(("q", "k", "v")):
            state[dst + f"attn.{part}_proj.weight"] = qkv_w[j * d_model:(j + 1) * d_model].contiguous()
            state[dst + f"attn.{part}_proj.bias"] = qkv_b[j * d_model:(j + 1) * d_model].contiguous()
        state[dst + "attn.out_proj.weight"] = t(src + "attn.c_proj.weight", True).contiguous()
        state[dst + "attn.out_proj.bias"] = t(src + "attn.c_proj.bias")
        state[dst + "mlp.in_layer.weight"] = t(src + "mlp.c_fc.weight", True).contiguous()
        state[dst + "mlp.in_layer.bias"] = t(src + "mlp.c_fc.bias")
        state[dst + "mlp.out_layer.weight"] = t(src + "mlp.c_proj.weight", True).contiguous()
        state[dst + "mlp.out_layer.bias"] = t(src + "mlp.c_proj.bias")
        for ln in ("ln_1", "ln_2"):
            state[dst + f"{ln}.weight"] = t(src + f"{ln}.weight")
            state[dst + f"{ln}.bias"] = t(src + f"{ln}.bias")
    config = tdb.TransformerConfig(enc="gpt2", ctx_window=hf["wpe.weight"].shape[0], d_model=d_model, n_layers=n_layers, n_heads=n_heads)
    model = tdb.Transformer(config, device="cpu")
    model.load_state_dict(state)
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1e3


def interleaved(calls: dict, rounds: int, warmup: int = 1) -> dict:
    """Median seconds of each call, the calls run in turn each round (after ``warmup`` unmeasured rounds)."""
    times = {name: [] for name in calls}
    for r in range(warmup + rounds):
        for name, fn in calls.items():
            start = time.perf_counter()
            fn()
            if r >= warmup:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


class LastBody:
    """A requests hook keeping the last answer's media type and body, to time the client's decode on its own."""

    def __init__(self, client: ReconClient):
        self.media, self.body = "", b""
        client.session.hooks["response"].append(self)

    def __call__(self, response, *args, **kwargs):
        self.media, self.body = response.headers.get("Content-Type", ""), response.content
        return response

    def decode_ms(self, repeats: int = 20) -> float:
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            decode_answer(self.media, self.body)
            samples.append(time.perf_counter() - start)
        return median_ms(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="folder with model.safetensors (Hugging Face GPT-2 layout)")
    parser.add_argument("--url", default=os.environ.get("RECON_URL", "http://127.0.0.1:5000"))
    parser.add_argument("--tdb-root", default=os.environ.get("TDB_ROOT"))
    parser.add_argument("--tokens", default="64,256,1024")
    parser.add_argument("--transports", default="safetensors,json")
    parser.add_argument("--rounds", type=int, default=7, help="measured rounds per case (after one warm-up round)")
    parser.add_argument("--layer", type=int, default=5)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("PEER_THREADS", "2")), help="TDB's torch threads")
    parser.add_argument("--top-k", type=int, default=32)
    parser.add_argument("--smoke", action="store_true", help="64 tokens, 1 round: checks the machinery, figures meaningless")
    args = parser.parse_args()
    if args.smoke:
        args.tokens, args.rounds = "64", 1
    if not args.tdb_root:
        parser.error("--tdb-root (or TDB_ROOT) is required")

    tdb = import_tdb(args.tdb_root)
    torch = tdb.torch
    torch.set_num_threads(args.threads)
    model = load_transformer(tdb, args.model)
    d_model = model.cfg.d_model

    clients, bodies, unavailable = {}, {}, {}
    for transport in args.transports.split(","):
        client = ReconClient(args.url, transport=transport, timeout=600, retries=0)  # a refusal shows, never a retried time
        try:
            client.resid_delta_mlp(np.zeros((1, d_model), np.float32), 0)
            clients[transport] = client
            bodies[transport] = LastBody(client)
        except ReconError as e:
            unavailable[transport] = f"{e.status}: {e.detail}"
    if not clients:
        print(f"no transport works: {unavailable}")
        return 1

    print(f"TDB in-process (torch {torch.__version__}, {args.threads} threads) against {args.url}, layer {args.layer}, "
          f"{args.rounds} interleaved rounds, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, load average {os.getloadavg()[0]:.2f}")
    for transport, why in unavailable.items():
        print(f"transport {transport}: not served ({why})")

    names = list(clients)
    header = "| tokens | case | TDB ms | " + " | ".join(f"{t} ms | TDB/{t} | {t} decode ms" for t in names) + " | max abs diff |"
    rows, ratios = [header, "|" + "---|" * (header.count("|") - 1)], {t: [] for t in names}
    layer = args.layer
    for n in (int(x) for x in args.tokens.split(",")):
        residual = torch.randn(n, d_model, generator=torch.Generator().manual_seed(n))
        residual_np = residual.numpy()
        for label, node, act, trace, index in [
            ("MLP post", tdb.NodeType.MLP_NEURON, tdb.PreOrPostAct.POST, None, (n // 2, 7)),
            ("attn probs", tdb.NodeType.ATTENTION_HEAD, tdb.PreOrPostAct.POST, tdb.AttentionTraceType.QK, (n - 1, n // 3, 4)),
        ]:
            rec = tdb.ActivationReconstituter(transformer=model, autoencoder_context=None, node_type=node, pre_or_post_act=act,
                                              detach_layer_norm_scale=True, attention_trace_type=trace)
            kwargs = {"attention_trace_type": trace.value} if trace else {}

            def tdb_activation():
                with torch.no_grad():
                    return rec.reconstitute_activations(residual, None, layer, tdb.PassType.FORWARD)

            def tdb_gradient():
                return rec.reconstitute_gradient(residual, None, layer, tdb.PassType.FORWARD, scalar_hook=lambda a: a[index])

            for op, tdb_fn in (("activation", tdb_activation), ("gradient", tdb_gradient)):
                def service(c, op=op):
                    if op == "activation":
                        return c.activations(residual_np, layer, node.value, act.value, **kwargs)
                    return c.gradients(residual_np, layer, node.value, list(index), act.value, **kwargs)

                expected = tdb_fn().detach().numpy()
                diff = max(float(np.max(np.abs(np.nan_to_num(service(c) - expected, posinf=0, neginf=0)))) for c in clients.values())
                calls = {"tdb": tdb_fn, **{t: (lambda c=c: service(c)) for t, c in clients.items()}}
                medians = interleaved(calls, args.rounds)
                cells = []
                for t in names:
                    ratio = medians["tdb"] / medians[t]
                    ratios[t].append(ratio)
                    cells.append(f"{medians[t] * 1e3:.1f} | {ratio:.2f} | {bodies[t].decode_ms():.2f}")
                rows.append(f"| {n} | {label} {op} | {medians['tdb'] * 1e3:.1f} | " + " | ".join(cells) + f" | {diff:.1e} |")
                print(rows[-1], flush=True)

    # Top-k against the full answer: MLP post at the largest token count, TDB's activation + torch.topk in-process.
    n = max(int(x) for x in args.tokens.split(","))
    residual = torch.randn(n, d_model, generator=torch.Generator().manual_seed(n))
    rec = tdb.ActivationReconstituter(transformer=model, autoencoder_context=None, node_type=tdb.NodeType.MLP_NEURON,
                                      pre_or_post_act=tdb.PreOrPostAct.POST, detach_layer_norm_scale=True)

    def tdb_topk():
        with torch.no_grad():
            return torch.topk(rec.reconstitute_activations(residual, None, layer, tdb.PassType.FORWARD), args.top_k, dim=-1)

    top_calls = {"tdb top-k": tdb_topk}
    for t, c in clients.items():
        top_calls[f"{t} full"] = lambda c=c: c.activations(residual.numpy(), layer, "mlp_neuron", "post")
        top_calls[f"{t} top-k"] = lambda c=c: c.activations(residual.numpy(), layer, "mlp_neuron", "post", output=Output.top(args.top_k))
    top = interleaved(top_calls, args.rounds)

    # The client's decode of a 4 MiB answer, without HTTP.
    body = bytes(safetensors.pack({"activations": np.ones((1024, 1024), np.float32)}, {"json": '{"activations":{"tensor":"activations"}}'}))
    decode = []
    for _ in range(200):
        start = time.perf_counter()
        decode_answer("application/x-safetensors", body)
        decode.append(time.perf_counter() - start)

    print()
    print("\n".join(rows))
    print()
    print(f"| MLP post, {n} tokens, k = {args.top_k} | median ms |\n|---|---|")
    for name, seconds in top.items():
        print(f"| {name} | {seconds * 1e3:.1f} |")
    print()
    print(f"Python client decode of a 4 MiB safetensors answer (no HTTP): median {median_ms(decode) * 1e3:.0f} µs over 200")
    for t in names:
        gm = math.exp(sum(math.log(r) for r in ratios[t]) / len(ratios[t]))
        print(f"TDB in-process / service over HTTP ({t}, decode included), geometric mean over {len(ratios[t])} cases: {gm:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
