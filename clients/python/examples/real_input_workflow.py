#!/usr/bin/env python3
"""The real-input workflow against a running ReconService.

prompt -> forward pass capturing resid.post_attn -> MLP post-activations of a layer reconstituted from it
-> top neurons per token -> gradient of the strongest activation with respect to the residual
-> the same for the latents of an autoencoder on that layer's MLP.

    python3 examples/real_input_workflow.py --url http://127.0.0.1:5000 --layer 1
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from reconclient import ReconClient  # noqa: E402


def show_top(title: str, values: np.ndarray, token_strings: list, k: int) -> None:
    print(title)
    for t, row in enumerate(values):
        top = np.argsort(-row)[:k]
        cells = ", ".join(f"{int(i)}={row[i]:.3f}" for i in top)
        print(f"  {t:3d} {token_strings[t]!r:>14}: {cells}")


def strongest(values: np.ndarray) -> tuple:
    token, unit = np.unravel_index(int(np.argmax(values)), values.shape)
    return int(token), int(unit)


def describe_gradient(title: str, gradient: np.ndarray, token_strings: list) -> None:
    norms = np.linalg.norm(gradient, axis=-1)
    print(title)
    for t, n in enumerate(norms):
        print(f"  {t:3d} {token_strings[t]!r:>14}: |grad| = {n:.4f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("RECON_URL", "http://127.0.0.1:5000"))
    parser.add_argument("--prompt", default="And God said, Let there be light: and there was light.")
    parser.add_argument("--layer", type=int, default=1)
    parser.add_argument("--top", type=int, default=3)
    args = parser.parse_args()

    client = ReconClient(args.url)
    info = client.model()
    layer = min(args.layer, info["config"]["nLayers"] - 1)

    run = client.forward(prompt=args.prompt, capture=["resid.post_attn"], layers=[layer])
    residual = run.captured["resid.post_attn"][layer]
    print(f"{len(run.tokens)} tokens; resid.post_attn of layer {layer}: {residual.shape}")

    neurons = client.activations(residual, layer, "mlp_neuron", "post")
    show_top(f"MLP post-activations, layer {layer}, top {args.top} neurons per token:", neurons, run.token_strings, args.top)
    token, neuron = strongest(neurons)
    print(f"strongest: neuron {neuron} at token {token} ({run.token_strings[token]!r}) = {neurons[token, neuron]:.4f}")
    gradient = client.gradients(residual, layer, "mlp_neuron", [token, neuron], "post")
    describe_gradient(f"d neuron[{token}, {neuron}] / d resid.post_attn:", gradient, run.token_strings)

    candidates = [a for a in info["autoencoders"] if a["inputType"] in ("mlp.post_act", "resid.delta_mlp") and layer in a["layers"]]
    if not candidates:
        print("no autoencoder on this layer's MLP is configured; skipping latents")
        return 0
    ae = candidates[0]
    latents = client.activations(residual, layer, ae["nodeType"], "post", autoencoder=ae["name"])
    show_top(f"latents of autoencoder {ae['name']}, layer {layer}, top {args.top} per token:", latents, run.token_strings, args.top)
    token, latent = strongest(latents)
    print(f"strongest: latent {latent} at token {token} ({run.token_strings[token]!r}) = {latents[token, latent]:.4f}")
    gradient = client.gradients(residual, layer, ae["nodeType"], [token, latent], "post", autoencoder=ae["name"])
    describe_gradient(f"d latent[{token}, {latent}] / d resid.post_attn:", gradient, run.token_strings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
