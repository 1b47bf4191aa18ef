"""Python client for ReconService: Transformer Debugger's reconstitution over HTTP, with numpy arrays."""

from .attribution import AttributionResult, Node, Verification
from .client import ForwardResult, ReconClient, ReconError, decode_tensor, encode_tensor

__all__ = ["AttributionResult", "Node", "Verification", "ReconClient", "ReconError", "ForwardResult", "encode_tensor", "decode_tensor"]
