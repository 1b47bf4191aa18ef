"""The safetensors format with numpy alone: an 8-byte little-endian header length, a JSON header
``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}``, then the raw data.

``unpack`` views every tensor in the body it was given (``np.frombuffer``: no copy; the arrays are read-only and keep
the body alive). ``pack`` builds a body with one copy of each array."""

from __future__ import annotations

import json
import struct
from typing import Any, Mapping

import numpy as np

MEDIA_TYPE = "application/x-safetensors"

# safetensors dtype -> numpy dtype (little-endian); BF16 has no numpy type and is widened to float32 on reading
_NUMPY = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?"}
_CODES = {np.dtype(v): k for k, v in _NUMPY.items()}


def dtype_code(array: np.ndarray) -> str:
    """The safetensors dtype of an array's dtype (``F32``, ``F16``, ``I32``, ...)."""
    try:
        return _CODES[array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype]
    except KeyError:
        raise ValueError(f"no safetensors dtype for numpy dtype {array.dtype}") from None


def pack(tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None) -> bytearray:
    """One safetensors file holding ``tensors`` (in the order given) and ``metadata``; each array is copied once."""
    arrays = {name: np.ascontiguousarray(a, dtype=np.asarray(a).dtype.newbyteorder("<")) for name, a in tensors.items()}
    header: dict[str, Any] = {}
    if metadata:
        header["__metadata__"] = dict(metadata)
    offset = 0
    for name, a in arrays.items():
        header[name] = {"dtype": dtype_code(a), "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned
    body = bytearray(8 + len(text) + offset)
    struct.pack_into("<Q", body, 0, len(text))
    body[8:8 + len(text)] = text
    at = 8 + len(text)
    for a in arrays.values():
        if a.nbytes:
            body[at:at + a.nbytes] = memoryview(a).cast("B")
        at += a.nbytes
    return body


def unpack(body: bytes | bytearray | memoryview) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Tensors (views into ``body``, no copy; BF16 widened to float32) and ``__metadata__`` of a safetensors file."""
    size = len(body)
    if size < 8:
        raise ValueError(f"a safetensors file has at least 8 bytes, got {size}")
    (n,) = struct.unpack_from("<Q", body, 0)
    if n > size - 8:
        raise ValueError(f"header length {n} runs past the end of the file ({size} bytes)")
    header = json.loads(bytes(memoryview(body)[8:8 + n]))
    metadata = header.pop("__metadata__", None) or {}
    base = 8 + n
    tensors: dict[str, np.ndarray] = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        shape = tuple(entry["shape"])
        if not 0 <= begin <= end <= size - base:
            raise ValueError(f"{name}: data_offsets [{begin}, {end}] out of range ({size - base} bytes of data)")
        code = entry["dtype"]
        if code == "BF16":
            bits = np.frombuffer(body, dtype="<u2", count=(end - begin) // 2, offset=base + begin)
            tensors[name] = (bits.astype("<u4") << 16).view("<f4").reshape(shape)
            continue
        if code not in _NUMPY:
            raise ValueError(f"{name}: unsupported dtype {code}")
        dt = np.dtype(_NUMPY[code])
        if (end - begin) != dt.itemsize * int(np.prod(shape, dtype=np.int64)):
            raise ValueError(f"{name}: {end - begin} bytes do not hold shape {list(shape)} of {code}")
        tensors[name] = np.frombuffer(body, dtype=dt, count=(end - begin) // dt.itemsize, offset=base + begin).reshape(shape)
    return tensors, metadata
