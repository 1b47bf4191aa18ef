"""Python client for ReconService: Transformer Debugger's reconstitution over HTTP, with numpy arrays."""

from .client import ForwardResult, ReconClient, ReconError, decode_tensor, encode_tensor

__all__ = ["ReconClient", "ReconError", "ForwardResult", "encode_tensor", "decode_tensor"]
