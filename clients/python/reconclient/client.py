"""One method per endpoint of the v1 contract; tensors go in and come out as numpy arrays.

Transport: with ``transport="safetensors"`` every tensor endpoint is called with a safetensors body (the request's
tensors under their field names, the other fields as JSON text in ``__metadata__["request"]``) and
``Accept: application/x-safetensors``; answer arrays are views into the body (``np.frombuffer``, no copy, read-only).
``transport="json"`` sends and reads JSON with base64 tensors. ``transport="auto"`` (the default) starts with
safetensors and switches to JSON for good only when the service answers 415 (it does not take safetensors); the choice
made is ``client.transport``. A pinned transport never switches: an answer in another media type raises
:class:`TransportError`.

Retries: every call of this client is idempotent (the service computes, it stores nothing), so a call is sent again
once after a connection error, and up to ``retries`` times after a 503 or 429 answer, each time after the answer's
``Retry-After`` seconds (1 when absent). A ``Retry-After`` longer than ``max_retry_wait`` is not waited for: the
answer is raised at once."""

from __future__ import annotations

import base64
import email.utils
import json
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import requests

from . import safetensors
from .output import Output, TopK, output_wire

_NON_FINITE = {"NaN": np.nan, "Infinity": np.inf, "-Infinity": -np.inf}
_WIRE_DTYPES = {"float32": "<f4", "float16": "<f2", "int32": "<i4"}
JSON_MEDIA_TYPE = "application/json"
TRANSPORTS = ("auto", "safetensors", "json")


class ReconError(Exception):
    """A problem-details answer (4xx/5xx) from the service; ``retry_after`` is its ``Retry-After`` in seconds, if any."""

    def __init__(self, status: int, detail: str, field_name: str | None, body: Any, retry_after: float | None = None):
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.field = field_name
        self.body = body
        self.retry_after = retry_after


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` header in seconds: a number of seconds, or an HTTP date (seconds from now); None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class TransportError(Exception):
    """The service answered a successful call in another media type than the transport asks for."""


def encode_tensor(array: Any) -> dict:
    """A JSON tensor payload {dtype, shape, data}: base64 of the row-major little-endian values (float16 stays float16,
    anything else is sent as float32)."""
    a = np.asarray(array)
    wire = "float16" if a.dtype == np.float16 else "float32"
    a = np.ascontiguousarray(a, dtype=_WIRE_DTYPES[wire])
    return {"dtype": wire, "shape": list(a.shape), "data": base64.b64encode(a).decode("ascii")}


def decode_tensor(payload: dict) -> np.ndarray:
    """The numpy array of a JSON tensor payload, base64 or nested lists (float32, float16, bfloat16 as float32, int32)."""
    shape = tuple(payload["shape"])
    dtype = payload.get("dtype", "float32")
    data = payload["data"]
    if isinstance(data, str):
        raw = base64.b64decode(data)
        if dtype == "bfloat16":
            return (np.frombuffer(raw, dtype="<u2").astype("<u4") << 16).view("<f4").reshape(shape)
        return np.frombuffer(raw, dtype=_WIRE_DTYPES[dtype]).reshape(shape)

    def convert(x):
        if isinstance(x, list):
            return [convert(v) for v in x]
        return _NON_FINITE[x] if isinstance(x, str) else x

    return np.asarray(convert(data), dtype=np.int32 if dtype == "int32" else np.float32).reshape(shape)


def _tensors_in_place(node: Any, tensors: Mapping[str, np.ndarray] | None) -> Any:
    """The answer tree with each tensor in its place: ``{"tensor": name}`` (safetensors) or a payload dict (JSON)."""
    if isinstance(node, dict):
        if tensors is not None and len(node) == 1 and isinstance(node.get("tensor"), str):
            return tensors[node["tensor"]]
        if tensors is None and "shape" in node and "data" in node and "dtype" in node:
            return decode_tensor(node)
        return {k: _tensors_in_place(v, tensors) for k, v in node.items()}
    if isinstance(node, list):
        return [_tensors_in_place(v, tensors) for v in node]
    return node


def decode_answer(content_type: str, body: bytes) -> Any:
    """An answer (JSON or safetensors) as its JSON structure, with numpy arrays in the tensors' places."""
    media = content_type.split(";")[0].strip().lower()
    if media == safetensors.MEDIA_TYPE:
        tensors, metadata = safetensors.unpack(body)
        return _tensors_in_place(json.loads(metadata.get("json", "{}")), tensors)
    return _tensors_in_place(json.loads(body), None)


def _field(answer: dict, name: str) -> "np.ndarray | TopK":
    """Answer field ``name``, paired with its ``nameIndices`` sibling as a :class:`TopK` when the answer has one."""
    indices = answer.get(name + "Indices")
    return TopK(answer[name], indices) if indices is not None else answer[name]


@dataclass
class ForwardResult:
    """Result of /v1/forward. ``captured[location][layer]`` is an array (layer None for resid.post_emb and logits),
    or a :class:`TopK` when ``output`` asked for one. ``token_bytes`` holds each token's exact bytes when the service
    sends them (``tokenBytes``): unlike ``token_strings``, they keep the parts of a character split across tokens."""

    tokens: list[int]
    token_strings: list[str]
    top_predictions: list[list[dict]]
    captured: dict[str, dict[int | None, Any]] = field(default_factory=dict)
    raw: dict = field(default_factory=dict, repr=False)
    token_bytes: list[bytes] | None = None


def _token_bytes(answer: Mapping[str, Any]) -> list[bytes] | None:
    """``tokenBytes`` (base64 per token) as bytes, or None when the service does not send them."""
    values = answer.get("tokenBytes")
    return None if values is None else [base64.b64decode(v) for v in values]


class ReconClient:
    """Client for a ReconService instance, e.g. ``ReconClient("http://127.0.0.1:5000", api_key="...")``.

    ``transport``: ``"auto"`` (default; safetensors, or JSON once the service answers 415), ``"safetensors"`` or
    ``"json"`` (pinned). ``api_key`` is sent as ``X-API-Key``. ``retries``: how many times a call answered 503 or 429
    is sent again (after ``Retry-After``, at most ``max_retry_wait`` seconds); a connection error is retried once."""

    def __init__(self, base_url: str = "http://127.0.0.1:5000", timeout: float = 120.0, session: requests.Session | None = None,
                 *, transport: str = "auto", api_key: str | None = None, retries: int = 2, max_retry_wait: float = 30.0):
        if transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {TRANSPORTS}, got {transport!r}")
        if retries < 0 or max_retry_wait < 0:
            raise ValueError("retries and max_retry_wait must not be negative")
        self.retries = retries
        self.max_retry_wait = max_retry_wait
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        self.transport = transport
        self.pinned = transport != "auto"
        self.negotiation: str | None = None  # why auto chose JSON, when it did
        if api_key is not None:
            self.session.headers["X-API-Key"] = api_key

    # -- transport ---------------------------------------------------------------------------------
    @staticmethod
    def _raise_problem(response: requests.Response) -> None:
        try:
            problem = response.json()
        except ValueError:
            problem = {"detail": response.text}
        raise ReconError(response.status_code, problem.get("detail") or problem.get("title") or "", problem.get("field"), problem,
                         retry_after_seconds(response.headers.get("Retry-After")))

    def _send(self, method: str, path: str, **kwargs) -> requests.Response:
        """One call, sent again once after a connection error and after 503/429 answers as ``retries`` and ``Retry-After`` allow."""
        connection_retried = False
        busy = 0
        while True:
            try:
                response = self.session.request(method, self.base_url + path, timeout=self.timeout, **kwargs)
            except requests.ConnectionError:
                if connection_retried:
                    raise
                connection_retried = True
                continue
            if response.status_code in (429, 503) and busy < self.retries:
                wait = retry_after_seconds(response.headers.get("Retry-After"))
                wait = 1.0 if wait is None else wait
                if wait <= self.max_retry_wait:
                    busy += 1
                    response.close()
                    time.sleep(wait)
                    continue
            return response

    def _request(self, method: str, path: str, body: dict | None = None) -> Any:
        """A plain JSON call (endpoints without tensors)."""
        response = self._send(method, path, json=body)
        if response.status_code >= 400:
            self._raise_problem(response)
        return response.json()

    def call(self, path: str, fields: Mapping[str, Any], tensors: Mapping[str, Any] | None = None) -> Any:
        """POST a tensor endpoint: ``fields`` as JSON, ``tensors`` (field name -> array) in the transport's encoding.
        Returns the answer's JSON structure with numpy arrays in the tensors' places."""
        tensors = {k: v for k, v in (tensors or {}).items() if v is not None}
        if self.transport in ("auto", "safetensors"):
            arrays = {k: _input_array(v) for k, v in tensors.items()}
            body = safetensors.pack(arrays, {"request": json.dumps(fields, separators=(",", ":"))})
            headers = {"Content-Type": safetensors.MEDIA_TYPE, "Accept": safetensors.MEDIA_TYPE}
            response = self._send("POST", path, data=body, headers=headers)
            if response.status_code == 415 and self.transport == "auto":
                self.transport = "json"
                self.negotiation = f"POST {path} answered 415 to application/x-safetensors: using JSON"
            else:
                answer = self._answer(response, safetensors.MEDIA_TYPE)
                self.transport = "safetensors"
                return answer
        body = dict(fields)
        body.update({k: encode_tensor(v) for k, v in tensors.items()})
        response = self._send("POST", path, data=json.dumps(body, separators=(",", ":")),
                              headers={"Content-Type": JSON_MEDIA_TYPE, "Accept": JSON_MEDIA_TYPE})
        return self._answer(response, JSON_MEDIA_TYPE)

    def _answer(self, response: requests.Response, expected: str) -> Any:
        if response.status_code >= 400:
            self._raise_problem(response)
        media = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if media != expected:
            raise TransportError(f"{response.request.method} {response.request.path_url}: asked for {expected}, the service answered {media or 'no Content-Type'}")
        return decode_answer(media, response.content)

    @staticmethod
    def _spec(layer_index: int, node_type: str, pre_or_post_act: str, attention_trace_type: str | None, detach_layer_norm_scale: bool,
              autoencoder: str | None, latent_slice: tuple[int, int] | None, pass_type: str, output) -> dict:
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
        return _with_output(body, output)

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

    def tokenize(self, text: str, *, with_bytes: bool = False, allow_special: bool | None = None,
                 prepend_bos: bool | None = None) -> tuple:
        """POST /v1/tokenize: GPT-2 token ids and the text of each token; with ``with_bytes`` also each token's bytes
        (``tokenBytes``; None from a service that does not send them). ``allow_special`` and ``prepend_bos`` are sent
        only when given."""
        body: dict[str, Any] = {"text": text}
        _flags(body, allow_special, prepend_bos)
        r = self._request("POST", "/v1/tokenize", body)
        return (r["tokens"], r["tokenStrings"], _token_bytes(r)) if with_bytes else (r["tokens"], r["tokenStrings"])

    def forward(self, prompt: str | None = None, tokens: Sequence[int] | None = None, capture: Iterable[str] = (),
                layers: Iterable[int] | None = None, top_k: int = 5, output: Output | Mapping | None = None, *,
                allow_special: bool | None = None, prepend_bos: bool | None = None) -> ForwardResult:
        """POST /v1/forward: run the model on a prompt (or token ids), capturing locations such as resid.post_attn.
        ``allow_special`` and ``prepend_bos`` are sent only when given."""
        body: dict[str, Any] = {"capture": list(capture), "topK": int(top_k)}
        if prompt is not None:
            body["prompt"] = prompt
        if tokens is not None:
            body["tokens"] = [int(t) for t in tokens]
        if layers is not None:
            body["layers"] = [int(layer) for layer in layers]
        _flags(body, allow_special, prepend_bos)
        r = self.call("/v1/forward", _with_output(body, output))
        captured: dict[str, dict[int | None, Any]] = {}
        items = r["captured"]
        if isinstance(items, dict):  # {location: {layer or "none": tensor}}
            for location, by_layer in items.items():
                for layer, value in by_layer.items():
                    if layer.endswith("Indices"):
                        continue
                    key = None if layer == "none" else int(layer)
                    captured.setdefault(location, {})[key] = _field(by_layer, layer)
        else:  # [{location, layer, tensor}]
            for c in items:
                captured.setdefault(c["location"], {})[c.get("layer")] = _field(c, "tensor")
        return ForwardResult(r["tokens"], r["tokenStrings"], r["topPredictions"], captured, r, _token_bytes(r))

    # -- reconstitution ----------------------------------------------------------------------------
    def activations(self, residual, layer_index: int, node_type: str, pre_or_post_act: str = "post", *,
                    attention_trace_type: str | None = None, detach_layer_norm_scale: bool = True, autoencoder: str | None = None,
                    latent_slice: tuple[int, int] | None = None, pass_type: str = "forward", output: Output | Mapping | None = None):
        """POST /v1/activations: [q, k, heads] for attention heads, [tokens, d_ff] for MLP neurons, [tokens, n_latents] for latents."""
        body = self._spec(layer_index, node_type, pre_or_post_act, attention_trace_type, detach_layer_norm_scale, autoencoder, latent_slice, pass_type, output)
        return _field(self.call("/v1/activations", body, {"residual": residual}), "activations")

    def gradients(self, residual, layer_index: int, node_type: str, tensor_indices: Sequence[int], pre_or_post_act: str = "post", *,
                  attention_trace_type: str | None = None, detach_layer_norm_scale: bool = True, autoencoder: str | None = None,
                  latent_slice: tuple[int, int] | None = None, pass_type: str = "forward", output: Output | Mapping | None = None):
        """POST /v1/gradients: d activation[tensor_indices] / d residual, shaped like the residual."""
        body = self._spec(layer_index, node_type, pre_or_post_act, attention_trace_type, detach_layer_norm_scale, autoencoder, latent_slice, pass_type, output)
        body["tensorIndices"] = [int(i) for i in tensor_indices]
        return _field(self.call("/v1/gradients", body, {"residual": residual}), "gradient")

    def jvp(self, residual, layer_index: int, node_type: str, write_vector, pre_or_post_act: str = "post", *,
            attention_trace_type: str | None = None, detach_layer_norm_scale: bool = True, autoencoder: str | None = None,
            latent_slice: tuple[int, int] | None = None, pass_type: str = "forward", output: Output | Mapping | None = None):
        """POST /v1/jvp: Jacobian of the activation times write_vector (shaped like the residual)."""
        body = self._spec(layer_index, node_type, pre_or_post_act, attention_trace_type, detach_layer_norm_scale, autoencoder, latent_slice, pass_type, output)
        return _field(self.call("/v1/jvp", body, {"residual": residual, "writeVector": write_vector}), "jvp")

    def resid_delta_attn(self, residual, layer_index: int, detach_layer_norm_scale: bool = True, output: Output | Mapping | None = None):
        """POST /v1/resid-deltas/attn: the attention block's output [tokens, d_model]."""
        body = _with_output({"layerIndex": int(layer_index), "detachLayerNormScale": bool(detach_layer_norm_scale)}, output)
        return _field(self.call("/v1/resid-deltas/attn", body, {"residual": residual}), "residDelta")

    def resid_delta_mlp(self, residual, layer_index: int, detach_layer_norm_scale: bool = True, output: Output | Mapping | None = None):
        """POST /v1/resid-deltas/mlp: the MLP block's output [tokens, d_model] from resid.post_attn."""
        body = _with_output({"layerIndex": int(layer_index), "detachLayerNormScale": bool(detach_layer_norm_scale)}, output)
        return _field(self.call("/v1/resid-deltas/mlp", body, {"residual": residual}), "residDelta")

    def attention_values(self, residual, layer_index: int, detach_layer_norm_scale: bool = True,
                         attention_trace_type: str | None = None, output: Output | Mapping | None = None) -> tuple:
        """POST /v1/attention-values: attention probabilities [q, k, heads] and values [tokens, heads, d_head]."""
        body: dict[str, Any] = {"layerIndex": int(layer_index), "detachLayerNormScale": bool(detach_layer_norm_scale)}
        if attention_trace_type is not None:
            body["attentionTraceType"] = attention_trace_type
        r = self.call("/v1/attention-values", _with_output(body, output), {"residual": residual})
        return _field(r, "attention"), _field(r, "values")

    def logits(self, residual, detach_layer_norm_scale: bool = True, output: Output | Mapping | None = None):
        """POST /v1/logits: [tokens, n_vocab] from the final layer's resid.post_mlp."""
        body = _with_output({"detachLayerNormScale": bool(detach_layer_norm_scale)}, output)
        return _field(self.call("/v1/logits", body, {"residual": residual}), "logits")

    def logprobs(self, residual, detach_layer_norm_scale: bool = True, output: Output | Mapping | None = None):
        """POST /v1/logprobs: log-softmax of the logits, [tokens, n_vocab]."""
        body = _with_output({"detachLayerNormScale": bool(detach_layer_norm_scale)}, output)
        return _field(self.call("/v1/logprobs", body, {"residual": residual}), "logprobs")

    # -- attribution (the module reconclient.attribution) -------------------------------------------
    def attribution(self, *args, **kwargs):
        """POST /v1/attribution: see :func:`reconclient.attribution.attribution`."""
        from .attribution import attribution  # noqa: PLC0415

        return attribution(self, *args, **kwargs)

    # -- autoencoders ------------------------------------------------------------------------------
    def encode(self, name: str, activations, layer_index: int, output: Output | Mapping | None = None):
        """POST /v1/autoencoders/{name}/encode: latents [tokens, n_latents] of raw activations of the autoencoder's input type."""
        path = f"/v1/autoencoders/{requests.utils.quote(name, safe='')}/encode"
        return _field(self.call(path, _with_output({"layerIndex": int(layer_index)}, output), {"activations": activations}), "latents")

    def latent_gradient(self, name: str, activations, layer_index: int, latent_index: int, output: Output | Mapping | None = None):
        """POST /v1/autoencoders/{name}/latent-gradient: d(sum over tokens of a latent) / d activations."""
        path = f"/v1/autoencoders/{requests.utils.quote(name, safe='')}/latent-gradient"
        body = _with_output({"layerIndex": int(layer_index), "latentIndex": int(latent_index)}, output)
        return _field(self.call(path, body, {"activations": activations}), "gradient")

    # -- top-k helpers -----------------------------------------------------------------------------
    def top_activations(self, residual, layer_index: int, node_type: str, k: int = 32, by: str = "value",
                        positions: Sequence[int] | None = None, pre_or_post_act: str = "post", **kwargs) -> TopK:
        """The k strongest units per token (by value or abs), computed and cut on the server: a :class:`TopK`."""
        return self.activations(residual, layer_index, node_type, pre_or_post_act, output=Output.top(k, by, positions), **kwargs)

    def top_logprobs(self, residual, k: int = 5, positions: Sequence[int] | None = (-1,), detach_layer_norm_scale: bool = True) -> TopK:
        """The k most likely next tokens at ``positions`` (default: the last), without downloading the vocabulary."""
        return self.logprobs(residual, detach_layer_norm_scale, output=Output.top(k, "value", positions))


def _flags(body: dict, allow_special: bool | None, prepend_bos: bool | None) -> None:
    if allow_special is not None:
        body["allowSpecial"] = bool(allow_special)
    if prepend_bos is not None:
        body["prependBos"] = bool(prepend_bos)


def _with_output(body: dict, output) -> dict:
    wire = output_wire(output)
    if wire is not None:
        body["output"] = wire
    return body


def _input_array(value: Any) -> np.ndarray:
    """A request tensor as sent: float16 stays float16; anything else float32 (little-endian, C order)."""
    a = np.asarray(value)
    return np.ascontiguousarray(a, dtype="<f2" if a.dtype == np.float16 else "<f4")
