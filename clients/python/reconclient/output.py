"""The ``output`` block of a request (which part of each answer tensor to return) and top-k answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np


@dataclass(frozen=True)
class Output:
    """What the server keeps of each answer tensor, in this order: ``positions`` (token positions, negative from the
    end; the query axis for attention), ``indices`` (entries of the last axis), ``top_k`` per row over the last axis
    (by ``"value"`` or ``"abs"``), then ``dtype`` (``"float32"``, ``"float16"``, ``"bfloat16"``)."""

    positions: Sequence[int] | None = None
    indices: Sequence[int] | None = None
    top_k: int | None = None
    by: str | None = None
    dtype: str | None = None

    @classmethod
    def top(cls, k: int, by: str = "value", positions: Sequence[int] | None = None, dtype: str | None = None) -> "Output":
        """The ``k`` largest entries of each row (by ``value`` or ``abs``), optionally at some positions only."""
        return cls(positions=positions, top_k=k, by=by, dtype=dtype)

    def to_wire(self) -> dict:
        """The JSON object the service reads (camelCase, absent fields left out)."""
        wire: dict[str, Any] = {}
        if self.positions is not None:
            wire["positions"] = [int(p) for p in self.positions]
        if self.indices is not None:
            wire["indices"] = [int(i) for i in self.indices]
        if self.top_k is not None:
            wire["topK"] = int(self.top_k)
        if self.by is not None:
            wire["by"] = self.by
        if self.dtype is not None:
            wire["dtype"] = self.dtype
        return wire


def output_wire(output: "Output | Mapping[str, Any] | None") -> dict | None:
    """``output`` as the service reads it: an :class:`Output`, or a dict already in wire spelling (``topK``)."""
    if output is None:
        return None
    if isinstance(output, Output):
        return output.to_wire()
    return dict(output)


class TopK(NamedTuple):
    """A top-k answer: ``values[..., j]`` is the j-th kept entry of its row (largest first), ``indices[..., j]`` its
    position on the unreduced last axis (neuron, latent, vocabulary entry, head)."""

    values: np.ndarray
    indices: np.ndarray

    def pairs(self, *row: int) -> list[tuple[int, float]]:
        """(index, value) pairs of one row, largest first: ``top.pairs(token)`` or ``top.pairs(batch, token)``."""
        return [(int(i), float(v)) for i, v in zip(self.indices[row], self.values[row])]

    def dense(self, width: int, fill: float = 0.0) -> np.ndarray:
        """The kept values scattered back into rows of ``width`` entries, ``fill`` elsewhere (float32)."""
        out = np.full(self.values.shape[:-1] + (width,), fill, dtype=np.float32)
        np.put_along_axis(out, self.indices.astype(np.int64), self.values.astype(np.float32), axis=-1)
        return out


def topk(array: np.ndarray, k: int, by: str = "value") -> TopK:
    """The same reduction on the client, for arrays already here: k largest per row over the last axis."""
    key = np.abs(array) if by == "abs" else array
    order = np.argsort(-key, axis=-1, kind="stable")[..., :k]
    return TopK(np.take_along_axis(array, order, axis=-1), order.astype(np.int32))
