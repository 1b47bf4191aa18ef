"""One function per endpoint of the v1 contract; tensors go in and come out as numpy arrays."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np
import requests

_NON_FINITE = {"NaN": np.nan, "Infinity": np.inf, "-Infinity": -np.inf}


class ReconError(Exception):
    """A problem-details answer (4xx/5xx) from the service."""

    def __init__(self, status: int, detail: str, field_name: str | None, body: Any):
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.field = field_name
        self.body = body


def encode_tensor(array: Any) -> dict:
    """A tensor payload {dtype, shape, data}: base64 of the row-major little-endian float32 values."""
    a = np.ascontiguousarray(np.asarray(array, dtype="<f4"))
    return {"dtype": "float32", "shape": list(a.shape), "data": base64.b64encode(a.tobytes()).decode("ascii")}


def decode_tensor(payload: dict) -> np.ndarray:
    """The numpy array (float32) of a tensor payload, base64 or nested lists."""
    shape = tuple(payload["shape"])
    data = payload["data"]
    if isinstance(data, str):
        return np.frombuffer(base64.b64decode(data), dtype="<f4").astype(np.float32).reshape(shape)

    def convert(x):
        if isinstance(x, list):
            return [convert(v) for v in x]
        return _NON_FINITE[x] if isinstance(x, str) else x

    return np.asarray(convert(data), dtype=np.float32).reshape(shape)


@dataclass
class ForwardResult:
    """Result of /v1/forward. ``captured[location][layer]`` is an array (layer None for resid.post_emb and logits)."""

    tokens: list[int]
    token_strings: list[str]
    top_predictions: list[list[dict]]
    captured: dict[str, dict[int | None, np.ndarray]] = field(default_factory=dict)


class ReconClient:
    """Client for a ReconService instance, e.g. ``ReconClient("http://127.0.0.1:5000")``."""

    def __init__(self, base_url: str = "http://127.0.0.1:5000", timeout: float = 120.0, session: requests.Session | None = None):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()

    # -- transport ---------------------------------------------------------------------------------
    def _request(self, method: str, path: str, body: dict | None = None) -> Any:
        response = self.session.request(method, self.base_url + path, json=body, timeout=self.timeout)
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {"detail": response.text}
            raise ReconError(response.status_code, problem.get("detail") or problem.get("title") or "", problem.get("field"), problem)
        return response.json()

    @staticmethod
    def _spec(layer_index: int, node_type: str, pre_or_post_act: str, attention_trace_type: str | None, detach_layer_norm_scale: bool,
              autoencoder: str | None, latent_slice: tuple[int, int] | None, pass_type: str) -> dict:
        body: dict[str, Any] = {
            "layerIndex": int(layer_index),
            "nodeType": node_type,
            "preOrPostAct": pre_or_post_act,
            "detachLayerNormScale": bool(detach_layer_norm_scale),
            "passType": pass_type,
        }
        if attention_trace_type is not None:
            body["attentionTraceType"] = attention_trace_type
        if autoencoder is not None:
            body["autoencoder"] = autoencoder
        if latent_slice is not None:
            body["latentSlice"] = {"start": int(latent_slice[0]), "stop": int(latent_slice[1])}
        return body

    # -- health and model --------------------------------------------------------------------------
    def live(self) -> bool:
        """Whether the process answers."""
        return self.session.get(self.base_url + "/health/live", timeout=self.timeout).status_code == 200

    def ready(self) -> bool:
        """Whether the weights are loaded."""
        return self.session.get(self.base_url + "/health/ready", timeout=self.timeout).status_code == 200

    def model(self) -> dict:
        """GET /v1/model: config (dModel, nLayers, ...), device, dtype, autoencoders."""
        return self._request("GET", "/v1/model")

    def tokenize(self, text: str) -> tuple[list[int], list[str]]:
        """POST /v1/tokenize: GPT-2 token ids and the text of each token."""
        r = self._request("POST", "/v1/tokenize", {"text": text})
        return r["tokens"], r["tokenStrings"]

    def forward(self, prompt: str | None = None, tokens: Sequence[int] | None = None, capture: Iterable[str] = (),
                layers: Iterable[int] | None = None, top_k: int = 5) -> ForwardResult:
        """POST /v1/forward: run the model on a prompt (or token ids), capturing locations such as resid.post_attn."""
        body: dict[str, Any] = {"capture": list(capture), "topK": int(top_k)}
        if prompt is not None:
            body["prompt"] = prompt
        if tokens is not None:
            body["tokens"] = [int(t) for t in tokens]
        if layers is not None:
            body["layers"] = [int(layer) for layer in layers]
        r = self._request("POST", "/v1/forward", body)
        captured: dict[str, dict[int | None, np.ndarray]] = {}
        for c in r["captured"]:
            captured.setdefault(c["location"], {})[c.get("layer")] = decode_tensor(c["tensor"])
        return ForwardResult(r["tokens"], r["tokenStrings"], r["topPredictions"], captured)

    # -- reconstitution ----------------------------------------------------------------------------
    def activations(self, residual, layer_index: int, node_type: str, pre_or_post_act: str = "post", *,
                    attention_trace_type: str | None = None, detach_layer_norm_scale: bool = True, autoencoder: str | None = None,
                    latent_slice: tuple[int, int] | None = None, pass_type: str = "forward") -> np.ndarray:
        """POST /v1/activations: [q, k, heads] for attention heads, [tokens, d_ff] for MLP neurons, [tokens, n_latents] for latents."""
        body = self._spec(layer_index, node_type, pre_or_post_act, attention_trace_type, detach_layer_norm_scale, autoencoder, latent_slice, pass_type)
        body["residual"] = encode_tensor(residual)
        return decode_tensor(self._request("POST", "/v1/activations", body)["activations"])

    def gradients(self, residual, layer_index: int, node_type: str, tensor_indices: Sequence[int], pre_or_post_act: str = "post", *,
                  attention_trace_type: str | None = None, detach_layer_norm_scale: bool = True, autoencoder: str | None = None,
                  latent_slice: tuple[int, int] | None = None, pass_type: str = "forward") -> np.ndarray:
        """POST /v1/gradients: d activation[tensor_indices] / d residual, shaped like the residual."""
        body = self._spec(layer_index, node_type, pre_or_post_act, attention_trace_type, detach_layer_norm_scale, autoencoder, latent_slice, pass_type)
        body["residual"] = encode_tensor(residual)
        body["tensorIndices"] = [int(i) for i in tensor_indices]
        return decode_tensor(self._request("POST", "/v1/gradients", body)["gradient"])

    def jvp(self, residual, layer_index: int, node_type: str, write_vector, pre_or_post_act: str = "post", *,
            attention_trace_type: str | None = None, detach_layer_norm_scale: bool = True, autoencoder: str | None = None,
            latent_slice: tuple[int, int] | None = None, pass_type: str = "forward") -> np.ndarray:
        """POST /v1/jvp: Jacobian of the activation times write_vector (shaped like the residual)."""
        body = self._spec(layer_index, node_type, pre_or_post_act, attention_trace_type, detach_layer_norm_scale, autoencoder, latent_slice, pass_type)
        body["residual"] = encode_tensor(residual)
        body["writeVector"] = encode_tensor(write_vector)
        return decode_tensor(self._request("POST", "/v1/jvp", body)["jvp"])

    def resid_delta_attn(self, residual, layer_index: int, detach_layer_norm_scale: bool = True) -> np.ndarray:
        """POST /v1/resid-deltas/attn: the attention block's output [tokens, d_model]."""
        body = {"residual": encode_tensor(residual), "layerIndex": int(layer_index), "detachLayerNormScale": bool(detach_layer_norm_scale)}
        return decode_tensor(self._request("POST", "/v1/resid-deltas/attn", body)["residDelta"])

    def resid_delta_mlp(self, residual, layer_index: int, detach_layer_norm_scale: bool = True) -> np.ndarray:
        """POST /v1/resid-deltas/mlp: the MLP block's output [tokens, d_model] from resid.post_attn."""
        body = {"residual": encode_tensor(residual), "layerIndex": int(layer_index), "detachLayerNormScale": bool(detach_layer_norm_scale)}
        return decode_tensor(self._request("POST", "/v1/resid-deltas/mlp", body)["residDelta"])

    def attention_values(self, residual, layer_index: int, detach_layer_norm_scale: bool = True,
                         attention_trace_type: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """POST /v1/attention-values: attention probabilities [q, k, heads] and values [tokens, heads, d_head]."""
        body: dict[str, Any] = {"residual": encode_tensor(residual), "layerIndex": int(layer_index), "detachLayerNormScale": bool(detach_layer_norm_scale)}
        if attention_trace_type is not None:
            body["attentionTraceType"] = attention_trace_type
        r = self._request("POST", "/v1/attention-values", body)
        return decode_tensor(r["attention"]), decode_tensor(r["values"])

    def logits(self, residual, detach_layer_norm_scale: bool = True) -> np.ndarray:
        """POST /v1/logits: [tokens, n_vocab] from the final layer's resid.post_mlp."""
        body = {"residual": encode_tensor(residual), "detachLayerNormScale": bool(detach_layer_norm_scale)}
        return decode_tensor(self._request("POST", "/v1/logits", body)["logits"])

    def logprobs(self, residual, detach_layer_norm_scale: bool = True) -> np.ndarray:
        """POST /v1/logprobs: log-softmax of the logits, [tokens, n_vocab]."""
        body = {"residual": encode_tensor(residual), "detachLayerNormScale": bool(detach_layer_norm_scale)}
        return decode_tensor(self._request("POST", "/v1/logprobs", body)["logprobs"])

    # -- attribution (the module reconclient.attribution) -------------------------------------------
    def attribution(self, *args, **kwargs):
        """POST /v1/attribution: see :func:`reconclient.attribution.attribution`."""
        from .attribution import attribution  # noqa: PLC0415

        return attribution(self, *args, **kwargs)

    # -- autoencoders ------------------------------------------------------------------------------
    def encode(self, name: str, activations, layer_index: int) -> np.ndarray:
        """POST /v1/autoencoders/{name}/encode: latents [tokens, n_latents] of raw activations of the autoencoder's input type."""
        body = {"activations": encode_tensor(activations), "layerIndex": int(layer_index)}
        return decode_tensor(self._request("POST", f"/v1/autoencoders/{requests.utils.quote(name, safe='')}/encode", body)["latents"])

    def latent_gradient(self, name: str, activations, layer_index: int, latent_index: int) -> np.ndarray:
        """POST /v1/autoencoders/{name}/latent-gradient: d(sum over tokens of a latent) / d activations."""
        body = {"activations": encode_tensor(activations), "layerIndex": int(layer_index), "latentIndex": int(latent_index)}
        return decode_tensor(self._request("POST", f"/v1/autoencoders/{requests.utils.quote(name, safe='')}/latent-gradient", body)["gradient"])
