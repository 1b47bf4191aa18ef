"""Python client for ReconService: Transformer Debugger's reconstitution over HTTP, with numpy arrays."""

from . import safetensors
from .attribution import AttributionResult, Node, Verification
from .client import (ForwardResult, ReconClient, ReconError, TransportError, decode_answer, decode_tensor,
                     encode_tensor)
from .output import Output, TopK, topk

__all__ = ["ReconClient", "ReconError", "TransportError", "ForwardResult", "Output", "TopK", "topk",
           "AttributionResult", "Node", "Verification",
           "encode_tensor", "decode_tensor", "decode_answer", "safetensors"]
