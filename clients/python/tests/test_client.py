"""Tests of the Python client against a live service on its default model (started by .ci/run)."""

import os
import subprocess
import sys

import numpy as np
import pytest

from reconclient import ReconError, decode_tensor, encode_tensor


def close(a, b, atol=1e-4, rtol=1e-4):
    np.testing.assert_allclose(a, b, atol=atol, rtol=rtol)


def test_tensor_payload_round_trips_including_non_finite_lists():
    a = np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5
    assert np.array_equal(decode_tensor(encode_tensor(a)), a)
    listed = decode_tensor({"dtype": "float32", "shape": [3], "data": [1.0, "-Infinity", "NaN"]})
    assert listed[0] == 1.0 and np.isneginf(listed[1]) and np.isnan(listed[2])


def test_model_info_is_consistent(info):
    c = info["config"]
    assert c["dModel"] == c["nHeads"] * c["dHead"]
    assert c["dFf"] == 4 * c["dModel"]
    assert info["dtype"] == "float32"
    for ae in info["autoencoders"]:
        assert ae["layers"] and all(0 <= layer < c["nLayers"] for layer in ae["layers"])


def test_tokens_spell_the_text(client):
    text = "For God so loved the world"
    tokens, strings = client.tokenize(text)
    assert len(tokens) == len(strings) > 1
    assert "".join(strings) == text


def test_forward_captures_every_layer_with_model_shapes(run, info):
    c = info["config"]
    n = len(run.tokens)
    assert run.captured["resid.post_emb"][None].shape == (n, c["dModel"])
    assert sorted(run.captured["resid.post_attn"]) == list(range(c["nLayers"]))
    assert run.captured["mlp.post_act"][0].shape == (n, c["dFf"])
    assert run.captured["attn.qk_probs"][0].shape == (n, n, c["nHeads"])
    assert len(run.top_predictions) == n
    best = run.top_predictions[-1]
    assert all(best[i]["logprob"] >= best[i + 1]["logprob"] for i in range(len(best) - 1))


def test_mlp_activations_from_the_residual_match_the_forward_pass(client, run, info):
    for layer in range(info["config"]["nLayers"]):
        recomputed = client.activations(run.captured["resid.post_attn"][layer], layer, "mlp_neuron", "post")
        close(recomputed, run.captured["mlp.post_act"][layer])


def test_attention_probabilities_match_and_sum_to_one(client, run):
    attention, values = client.attention_values(run.captured["resid.post_emb"][None], 0)
    close(attention, run.captured["attn.qk_probs"][0])
    close(attention.sum(axis=1), np.ones((attention.shape[0], attention.shape[2])))
    assert values.shape[0] == len(run.tokens)
    probs = client.activations(run.captured["resid.post_emb"][None], 0, "attention_head", "post", attention_trace_type="QK")
    close(probs, attention)


def test_block_outputs_match_the_forward_pass(client, run, info):
    last = info["config"]["nLayers"] - 1
    for layer in (0, last):
        before = run.captured["resid.post_emb"][None] if layer == 0 else run.captured["resid.post_mlp"][layer - 1]
        close(client.resid_delta_attn(before, layer), run.captured["resid.delta_attn"][layer])
        close(client.resid_delta_mlp(run.captured["resid.post_attn"][layer], layer), run.captured["resid.delta_mlp"][layer])


def test_logprobs_are_normalized_logits(client, run, info):
    final = run.captured["resid.post_mlp"][info["config"]["nLayers"] - 1]
    logits = client.logits(final)
    logprobs = client.logprobs(final)
    assert logits.shape == logprobs.shape == (len(run.tokens), info["config"]["nVocab"])
    lse = np.log(np.exp(logprobs.astype(np.float64)).sum(axis=-1))
    close(lse, np.zeros(len(run.tokens)), atol=1e-3)
    shift = logits - logprobs
    close(shift, np.repeat(shift[:, :1], shift.shape[1], axis=1), atol=1e-3)
    assert int(np.argmax(logprobs[-1])) == run.top_predictions[-1][0]["token"]


def test_mlp_neuron_gradient_is_confined_to_its_token(client, run):
    residual = run.captured["resid.post_attn"][1]
    t = len(run.tokens) // 2
    neurons = client.activations(residual, 1, "mlp_neuron", "post")
    neuron = int(np.argmax(neurons[t]))
    gradient = client.gradients(residual, 1, "mlp_neuron", [t, neuron], "post")
    assert gradient.shape == residual.shape
    assert np.linalg.norm(gradient[t]) > 0
    others = np.delete(gradient, t, axis=0)
    assert np.abs(others).max() == 0


def test_jvp_is_linear_and_agrees_with_a_finite_difference(client, run):
    residual = run.captured["resid.post_attn"][0].astype(np.float64)
    rng = np.random.default_rng(7)
    v = rng.standard_normal(residual.shape)
    # With the layer-norm scale attached, J v is the true derivative, which a central difference approximates.
    jv = client.jvp(residual, 0, "mlp_neuron", v, "pre", detach_layer_norm_scale=False)
    close(client.jvp(residual, 0, "mlp_neuron", 2 * v, "pre", detach_layer_norm_scale=False), 2 * jv, atol=1e-3)
    eps = 1e-2
    plus = client.activations(residual + eps * v, 0, "mlp_neuron", "pre")
    minus = client.activations(residual - eps * v, 0, "mlp_neuron", "pre")
    np.testing.assert_allclose((plus - minus) / (2 * eps), jv, atol=5e-2, rtol=5e-2)


def test_autoencoder_latents_agree_between_encode_and_activations(client, run, info):
    candidates = [a for a in info["autoencoders"] if a["inputType"] == "mlp.post_act"]
    if not candidates:
        pytest.skip("no mlp.post_act autoencoder configured")
    ae = candidates[0]
    layer = ae["layers"][0]
    latents = client.encode(ae["name"], run.captured["mlp.post_act"][layer], layer)
    assert latents.shape == (len(run.tokens), ae["nLatents"])
    assert latents.min() >= 0
    via_residual = client.activations(run.captured["resid.post_attn"][layer], layer, ae["nodeType"], "post", autoencoder=ae["name"])
    close(via_residual, latents, atol=1e-3)
    latent = int(np.argmax(latents.sum(axis=0)))
    gradient = client.latent_gradient(ae["name"], run.captured["mlp.post_act"][layer], layer, latent)
    assert gradient.shape == run.captured["mlp.post_act"][layer].shape
    assert np.linalg.norm(gradient) > 0


def test_a_wrong_width_is_a_422_naming_the_field(client, info):
    with pytest.raises(ReconError) as error:
        client.activations(np.zeros((2, info["config"]["dModel"] + 3)), 0, "mlp_neuron", "post")
    assert error.value.status == 422
    assert "residual.shape" in error.value.detail


def test_an_unknown_autoencoder_is_a_422(client):
    with pytest.raises(ReconError) as error:
        client.encode("no-such-autoencoder", np.zeros((1, 4)), 0)
    assert error.value.status == 422
    assert error.value.field == "name"


def test_the_example_workflow_runs(client):
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "real_input_workflow.py")
    result = subprocess.run([sys.executable, script, "--url", client.base_url], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "strongest: neuron" in result.stdout
    assert "d neuron[" in result.stdout


def test_safetensors_answers_are_read_only_views_of_the_answer_body(client, run):
    if client.transport != "safetensors":
        pytest.skip("the JSON transport decodes base64 into arrays of their own")
    activations = client.activations(run.captured["resid.post_attn"][0], 0, "mlp_neuron")
    assert not activations.flags.writeable and activations.base is not None
    assert client.negotiation is None


def test_forward_token_bytes_join_to_the_prompts_bytes_when_sent(client):
    prompt = "And God said, Let there be light"
    run = client.forward(prompt=prompt)
    if run.token_bytes is None:
        pytest.skip("the service does not send tokenBytes")
    assert b"".join(run.token_bytes) == prompt.encode()
