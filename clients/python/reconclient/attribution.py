"""POST /v1/attribution: TDB's node table, ablations and traces, as numpy arrays and a list of nodes.

    client = ReconClient("http://127.0.0.1:5000")
    result = client.attribution(prompt="And the", target=" LORD", distractor=" king", top_k=5)
    for node in result.node_table:                      # Node(node_type, layer_index, tensor_indices, autoencoder, values)
        print(node.node_type, node.layer_index, node.tensor_indices, node.values["act_times_grad"])
    result.sums["act_times_grad"]["mlp_act_times_grad"]   # np.ndarray [tokens]

A batch (``prompts=[...]`` or ``tokens=[[...], [...]]``) returns one :class:`AttributionResult` per sequence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

GROUPS = ("activation", "act_times_grad", "write_norm", "direction_write")


@dataclass
class Node:
    """One node of the table: ``node_type`` is TDB's (``mlp_neuron``, ``attention_head``, ``mlp_autoencoder_latent``,
    ``mlp_autoencoder_error``, ..., ``layer`` for a token embedding, which has no ``layer_index``); ``tensor_indices``
    ``[token, unit]`` or ``[query, key, head]``; ``values`` the node's value in every requested group."""

    node_type: str
    layer_index: int | None
    tensor_indices: list[int]
    autoencoder: str | None
    values: dict[str, float]

    @staticmethod
    def of(row: Mapping[str, Any]) -> "Node":
        return Node(row["nodeType"], row.get("layerIndex"), list(row["tensorIndices"]), row.get("autoencoder"), dict(row["values"]))

    def ablation(self, value: float = 0.0) -> dict:
        """This node as an entry of ``ablations`` (heads at their query-key pair; ``[q, "All", h]`` is TDB's UI's)."""
        entry = {"nodeType": self.node_type, "layerIndex": self.layer_index, "tensorIndices": list(self.tensor_indices), "value": float(value)}
        if self.autoencoder is not None:
            entry["autoencoder"] = self.autoencoder
        return entry

    def trace(self, attention_trace_type: str | None = None) -> dict:
        """This node as a ``trace`` (heads need ``attention_trace_type``: QK, Q, K or V)."""
        entry: dict[str, Any] = {"nodeType": self.node_type, "layerIndex": self.layer_index, "tensorIndices": list(self.tensor_indices)}
        if attention_trace_type is not None:
            entry["attentionTraceType"] = attention_trace_type
        if self.autoencoder is not None:
            entry["autoencoder"] = self.autoencoder
        return entry


@dataclass
class Verification:
    """One node of ``verify_top_n``: its first-order ``estimate`` (``-act_times_grad``) of the change of the loss (or
    traced value) when the node is set to zero, next to the exact ``loss_change`` from one more forward pass."""

    node: Node
    act_times_grad: float
    estimate: float
    loss_change: float
    ablated_value: float


@dataclass
class AttributionResult:
    """The answer for one sequence. ``sums[group][scalar]`` is ``[tokens]`` (``[q, k]`` for attention scalars);
    with ``dense``, ``scalars[group][scalar][layer]`` (layer ``None`` for layer-less scalars such as
    ``token_attribution``) and ``logits`` ``[tokens, n_vocab]``. Arrays are float32 unless ``output.dtype`` says otherwise."""

    tokens: list[int]
    loss: float | None
    unablated_loss: float | None
    traced_value: float | None
    node_table: list[Node]
    sums: dict[str, dict[str, np.ndarray]]
    scalars: dict[str, dict[str, dict[int | None, np.ndarray]]] | None = None
    logits: np.ndarray | None = None
    verification: list[Verification] | None = None
    raw: dict = field(default_factory=dict, repr=False)

    def top(self, group: str = "act_times_grad", n: int = 10, by_abs: bool = True) -> list[Node]:
        """The table's n nodes of largest value (or magnitude) in ``group``."""
        key = (lambda node: abs(node.values[group])) if by_abs else (lambda node: node.values[group])
        return sorted(self.node_table, key=key, reverse=True)[:n]


def attribution(client, prompt: str | None = None, tokens: Sequence[int] | Sequence[Sequence[int]] | None = None,
                prompts: Sequence[str] | None = None, *, target: int | str | Sequence[int | str] | None = None,
                distractor: int | str | Sequence[int | str] | None = None, loss: str = "logit_diff", position: int = -1,
                trace: Mapping[str, Any] | None = None, autoencoders: Sequence[str] | None = None,
                ablations: Sequence[Mapping[str, Any]] | None = None, groups: Sequence[str] | None = None, top_k: int = 10,
                dense: bool = False, detach_layer_norm_scale: bool = True, verify_top_n: int = 0, output=None,
                allow_special: bool | None = None, prepend_bos: bool | None = None) -> AttributionResult | list[AttributionResult]:
    """POST /v1/attribution (``../shared/docs/api.md``, "Attribution").

    Give one of ``prompt``, ``tokens`` (a list, or a list of lists for a batch) and ``prompts`` (a batch). The loss
    (``loss``: ``logit_diff``, ``probs`` or ``logprob``) reads the logits at ``position`` for ``target`` (and, for
    ``logit_diff``, ``distractor``) tokens: ids, or texts that are one token each. With ``trace`` (a dict as in the
    request, or ``Node.trace()``) the loss is left out unless the trace is a ``V`` trace. ``allow_special`` and
    ``prepend_bos`` are forward's (sent only when given). A batch returns a list."""
    body: dict[str, Any] = {"topK": int(top_k), "dense": bool(dense), "detachLayerNormScale": bool(detach_layer_norm_scale)}
    if prompt is not None:
        body["prompt"] = prompt
    if prompts is not None:
        body["prompts"] = list(prompts)
    if tokens is not None:
        body["tokens"] = [[int(t) for t in s] for s in tokens] if tokens and not np.isscalar(tokens[0]) else [int(t) for t in tokens]
    if allow_special is not None:
        body["allowSpecial"] = bool(allow_special)
    if prepend_bos is not None:
        body["prependBos"] = bool(prepend_bos)
    needs_loss = trace is None or trace.get("attentionTraceType") == "V"
    if needs_loss:
        if target is None:
            raise ValueError("give target (token ids or one-token texts) for the loss, or a trace")
        body["loss"] = {"name": loss, "targetTokens": _token_ids(client, target), "position": int(position)}
        if distractor is not None:
            body["loss"]["distractorTokens"] = _token_ids(client, distractor)
    if trace is not None:
        body["trace"] = dict(trace)
    if autoencoders:
        body["autoencoders"] = list(autoencoders)
    if ablations:
        body["ablations"] = [dict(a) for a in ablations]
    if groups is not None:
        body["groups"] = list(groups)
    if verify_top_n:
        body["verifyTopN"] = int(verify_top_n)
    if output is not None:
        try:
            from .output import output_wire  # noqa: PLC0415 - the transport's output helpers, when present
        except ImportError:
            body["output"] = dict(output)
        else:
            body["output"] = output_wire(output)
    answer = _post(client, body)
    if "results" in answer:
        return [_result(r) for r in answer["results"]]
    return _result(answer)


def _token_ids(client, tokens: int | str | Sequence[int | str]) -> list[int]:
    """Token ids of ids or one-token texts (tokenized by the service)."""
    items = [tokens] if isinstance(tokens, (int, str, np.integer)) else list(tokens)
    ids = []
    for item in items:
        if isinstance(item, str):
            encoded, _ = client.tokenize(item)
            if len(encoded) != 1:
                raise ValueError(f"{item!r} is {len(encoded)} tokens {encoded}; give one-token texts or token ids")
            ids.append(encoded[0])
        else:
            ids.append(int(item))
    return ids


def _post(client, body: dict) -> dict:
    """The answer with numpy arrays in the tensors' places, through the client's transport when it has one."""
    if hasattr(client, "call"):
        return client.call("/v1/attribution", body)
    from .client import decode_tensor  # noqa: PLC0415

    def decode(node):
        if isinstance(node, dict):
            if {"dtype", "shape", "data"} <= node.keys():
                return decode_tensor(node)
            return {k: decode(v) for k, v in node.items()}
        if isinstance(node, list):
            return [decode(v) for v in node]
        return node

    return decode(client._request("POST", "/v1/attribution", body))  # noqa: SLF001 - the JSON-only client


def _result(r: dict) -> AttributionResult:
    scalars = None
    if "scalars" in r:
        scalars = {group: {name: {None if layer == "none" else int(layer): value for layer, value in by_layer.items() if not layer.endswith("Indices")}
                           for name, by_layer in by_name.items()}
                   for group, by_name in r["scalars"].items()}
    verification = None
    if "verification" in r:
        verification = [Verification(Node.of(v), v["actTimesGrad"], v["estimate"], v["lossChange"], v["ablatedValue"]) for v in r["verification"]]
    return AttributionResult(
        tokens=list(r["tokens"]), loss=r.get("loss"), unablated_loss=r.get("unablatedLoss"), traced_value=r.get("tracedValue"),
        node_table=[Node.of(row) for row in r["nodeTable"]],
        sums={group: {name: value for name, value in by_name.items()} for group, by_name in r["sums"].items()},
        scalars=scalars, logits=r.get("logits"), verification=verification, raw=r)
