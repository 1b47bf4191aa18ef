"""`output` against the live service: each reduction equals the same cut of the full answer, made here."""

import numpy as np
import pytest

from conftest import REQUIRE_OUTPUT
from reconclient import Output, ReconError, TopK, topk


@pytest.fixture(scope="session")
def final(run, info):
    return run.captured["resid.post_mlp"][info["config"]["nLayers"] - 1]


@pytest.fixture(scope="session")
def reduces(client, final):
    """Skips (or fails, with RECON_REQUIRE_OUTPUT=1) while the service ignores `output`."""
    if not isinstance(client.logprobs(final[:1], output=Output.top(1)), TopK):
        message = "the service ignores output (no logprobsIndices in the answer)"
        if REQUIRE_OUTPUT:
            pytest.fail(message)
        pytest.skip(message + "; RECON_REQUIRE_OUTPUT=1 makes this a failure")


def test_top_logprobs_are_the_largest_of_the_full_answer(client, final, reduces):
    full = client.logprobs(final)
    top = client.top_logprobs(final, k=5)
    assert top.values.shape == top.indices.shape == (1, 5)
    assert top.indices.dtype == np.int32
    np.testing.assert_allclose(top.values, np.sort(full[-1:], axis=-1)[:, ::-1][:, :5], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(full[-1, top.indices[0]], top.values[0], rtol=1e-5, atol=1e-6)


def test_positions_and_indices_select_rows_then_columns(client, run, reduces):
    residual = run.captured["resid.post_attn"][0]
    full = client.activations(residual, 0, "mlp_neuron")
    cut = client.activations(residual, 0, "mlp_neuron", output=Output(positions=[-1, 0], indices=[5, 2, 7]))
    np.testing.assert_allclose(cut, full[[-1, 0]][:, [5, 2, 7]], rtol=1e-5, atol=1e-6)


def test_top_k_by_abs_of_a_gradient_keeps_signed_values(client, run, reduces):
    residual = run.captured["resid.post_attn"][1]
    t = len(run.tokens) // 2
    full = client.gradients(residual, 1, "mlp_neuron", [t, 3])
    top = client.gradients(residual, 1, "mlp_neuron", [t, 3], output=Output.top(4, "abs", positions=[t]))
    expected = topk(full[t:t + 1], 4, by="abs")
    np.testing.assert_array_equal(top.indices, expected.indices)
    np.testing.assert_allclose(top.values, expected.values, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("dtype, rtol", [("float16", 1e-3), ("bfloat16", 1e-2)])
def test_half_precision_answers_round_the_full_values(client, run, reduces, dtype, rtol):
    residual = run.captured["resid.post_attn"][0]
    full = client.activations(residual, 0, "mlp_neuron")
    half = client.activations(residual, 0, "mlp_neuron", output=Output(dtype=dtype))
    assert half.dtype == (np.float16 if dtype == "float16" else np.float32)
    np.testing.assert_allclose(half.astype(np.float32), full, rtol=rtol, atol=1e-3)


def test_attention_positions_select_queries(client, run, reduces):
    attention, values = client.attention_values(run.captured["resid.post_emb"][None], 0, output=Output(positions=[-1]))
    full, _ = client.attention_values(run.captured["resid.post_emb"][None], 0)
    np.testing.assert_allclose(attention, full[-1:], rtol=1e-5, atol=1e-7)
    assert values.shape[0] == 1


def test_a_top_k_longer_than_the_row_is_a_422_naming_it(client, run, info, reduces):
    with pytest.raises(ReconError) as error:
        client.activations(run.captured["resid.post_attn"][0], 0, "mlp_neuron", output=Output.top(info["config"]["dFf"] + 1))
    assert error.value.status == 422
    assert error.value.field == "output.topK"


def test_a_forward_capture_of_logits_comes_as_its_top_k(client, reduces):
    run = client.forward(tokens=[464, 3139, 286], capture=["logits"], output=Output.top(5))
    top = run.captured["logits"][None]
    assert isinstance(top, TopK) and top.values.shape == top.indices.shape == (3, 5)
    full = client.forward(tokens=[464, 3139, 286], capture=["logits"]).captured["logits"][None]
    np.testing.assert_array_equal(top.indices, np.argsort(-full, axis=-1, kind="stable")[:, :5])
    np.testing.assert_allclose(top.values, np.take_along_axis(full, top.indices.astype(np.int64), axis=-1), rtol=1e-6)
