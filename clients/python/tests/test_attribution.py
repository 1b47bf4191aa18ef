"""Tests of client.attribution against a live service on its default model (started by .ci/run)."""

import numpy as np
import pytest

from reconclient import AttributionResult, Node, ReconError

PROMPT, TARGET, DISTRACTOR = "And the", " LORD", " king"


@pytest.fixture(scope="module")
def lord(client):
    """Which nodes make the model predict ' LORD' rather than ' king' after 'And the': dense, 4 nodes verified."""
    return client.attribution(prompt=PROMPT, target=TARGET, distractor=DISTRACTOR, top_k=5, dense=True, verify_top_n=4)


def test_the_loss_is_the_target_minus_the_distractor_logit_of_a_plain_forward(client, lord):
    run = client.forward(prompt=PROMPT, capture=["logits"])
    (target,), _ = client.tokenize(TARGET)
    (distractor,), _ = client.tokenize(DISTRACTOR)
    logits = run.captured["logits"][None]
    assert lord.tokens == run.tokens
    assert lord.loss == pytest.approx(float(logits[-1, target] - logits[-1, distractor]), abs=1e-4)
    np.testing.assert_allclose(lord.logits, logits, atol=1e-4, rtol=1e-4)


def test_the_node_table_holds_every_group_and_the_sums_are_arrays_over_tokens(lord, info):
    tokens = len(lord.tokens)
    assert isinstance(lord, AttributionResult) and lord.node_table
    for node in lord.node_table:
        assert isinstance(node, Node)
        assert set(node.values) == {"activation", "act_times_grad", "write_norm", "direction_write"}
        assert (node.layer_index is None) == (node.node_type == "layer")
    assert lord.sums["act_times_grad"]["mlp_act_times_grad"].shape == (tokens,)
    assert lord.sums["act_times_grad"]["unflattened_attn_act_times_grad"].shape == (tokens, tokens)
    # TDB's per-token sums are the dense scalars summed over layers and units.
    by_layer = lord.scalars["act_times_grad"]["mlp_act_times_grad"]
    assert sorted(by_layer) == list(range(info["config"]["nLayers"]))
    np.testing.assert_allclose(sum(x.sum(-1) for x in by_layer.values()), lord.sums["act_times_grad"]["mlp_act_times_grad"], atol=1e-4, rtol=1e-4)
    assert lord.scalars["act_times_grad"]["token_attribution"][None].shape == (tokens, 1)


def test_each_verified_change_equals_the_loss_change_of_that_ablation_sent_as_a_request(client, lord):
    assert len(lord.verification) == 4
    for v in lord.verification:
        assert v.estimate == pytest.approx(-v.act_times_grad)
        assert v.loss_change == pytest.approx(v.ablated_value - lord.loss, abs=1e-5)
    ablatable = [v for v in lord.verification if v.node.node_type in ("mlp_neuron", "attention_head")]
    assert ablatable, "no neuron or head among the verified nodes"
    for v in ablatable:
        ablated = client.attribution(prompt=PROMPT, target=TARGET, distractor=DISTRACTOR, top_k=1, ablations=[v.node.ablation()])
        assert ablated.unablated_loss == pytest.approx(lord.loss, abs=1e-5)
        assert ablated.loss - ablated.unablated_loss == pytest.approx(v.loss_change, abs=1e-4)


def test_a_batch_returns_each_sequence_as_it_would_be_alone(client):
    prompts = [PROMPT, "In the beginning God created"]
    together = client.attribution(prompts=prompts, target=TARGET, top_k=3, loss="logprob")
    assert isinstance(together, list) and len(together) == 2
    for prompt, result in zip(prompts, together):
        alone = client.attribution(prompt=prompt, target=TARGET, top_k=3, loss="logprob")
        assert result.tokens == alone.tokens
        assert result.loss == pytest.approx(alone.loss, abs=1e-5)
        assert [(n.node_type, n.layer_index, n.tensor_indices) for n in result.node_table] == \
               [(n.node_type, n.layer_index, n.tensor_indices) for n in alone.node_table]


def test_a_trace_from_a_node_of_the_table_reports_its_value(client, lord):
    neuron = next(n for n in lord.node_table if n.node_type == "mlp_neuron")
    traced = client.attribution(prompt=PROMPT, trace=neuron.trace(), top_k=3)
    assert traced.loss is None and traced.traced_value is not None
    assert traced.node_table


def test_spliced_autoencoders_add_latent_and_error_nodes(client, info):
    name = info["autoencoders"][0]["name"]
    result = client.attribution(prompt=PROMPT, target=TARGET, distractor=DISTRACTOR, autoencoders=[name], top_k=3)
    kinds = {n.node_type for n in result.node_table}
    assert any(k.endswith("_latent") for k in kinds) and all(n.autoencoder == name for n in result.node_table if n.node_type.endswith(("_latent", "_error")))


def test_a_bad_request_raises_naming_the_field(client):
    with pytest.raises(ReconError) as error:
        client.attribution(tokens=[1, 2], target=[1], ablations=[{"nodeType": "mlp_neuron", "layerIndex": 99, "tensorIndices": [0, 0]}])
    assert error.value.status == 422 and error.value.field == "ablations[0].layerIndex"
    with pytest.raises(ValueError):
        client.attribution(prompt=PROMPT, target=" LORD and")


def test_allow_special_and_prepend_bos_tokenize_as_forward_and_are_echoed(client):
    plain = client.attribution(prompt=PROMPT + "<|endoftext|>", target=TARGET, loss="probs", top_k=2)
    assert 50256 not in plain.tokens and plain.raw["allowSpecial"] is False and plain.raw["prependBos"] is False
    special = client.attribution(prompt=PROMPT + "<|endoftext|>", target=TARGET, loss="probs", top_k=2, allow_special=True, prepend_bos=True)
    run = client.forward(prompt=PROMPT + "<|endoftext|>", allow_special=True, prepend_bos=True)
    assert special.tokens == run.tokens and special.tokens[0] == special.tokens[-1] == 50256
    assert special.raw["allowSpecial"] is True and special.raw["prependBos"] is True
    given = client.attribution(tokens=special.tokens[1:], target=TARGET, loss="probs", top_k=2, prepend_bos=True)
    assert given.tokens == special.tokens and given.loss == pytest.approx(special.loss, abs=1e-6)


def test_output_dtype_and_top_k_reach_every_answer_tensor_and_leave_the_table_alone(client):
    prompt = "In the beginning God created"
    full = client.attribution(prompt=prompt, target=TARGET, loss="probs", top_k=2)
    reduced = client.attribution(prompt=prompt, target=TARGET, loss="probs", top_k=2, output={"dtype": "float16", "topK": 2, "by": "abs"})
    assert [(n.node_type, n.tensor_indices) for n in reduced.node_table] == [(n.node_type, n.tensor_indices) for n in full.node_table]
    assert reduced.loss == pytest.approx(full.loss)
    whole = full.sums["act_times_grad"]["mlp_act_times_grad"]
    kept = reduced.sums["act_times_grad"]["mlp_act_times_grad"]
    at = reduced.sums["act_times_grad"]["mlp_act_times_gradIndices"]
    assert kept.dtype == np.float16 and kept.shape == (2,) and at.dtype == np.int32
    np.testing.assert_allclose(kept.astype(np.float32), whole[at], rtol=1e-3, atol=1e-4)
    assert sorted(np.abs(whole))[-2:][::-1] == pytest.approx(np.abs(kept.astype(np.float32)), rel=1e-3)
