"""Offline tests of the client's transport: the safetensors format, answer decoding, output specs, top-k helpers, and
how a transport is chosen (against small local stand-in servers, no ReconService needed)."""

import base64
import json
import struct

import numpy as np
import pytest

from reconclient import (Output, ReconClient, ReconError, TopK, TransportError, decode_answer, decode_tensor, encode_tensor,
                         safetensors, topk)
from standin import StandInHandler, StandInServer


def test_pack_and_unpack_round_trip_every_dtype_the_service_uses():
    tensors = {"values": np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5, "half": np.array([1.5, -2], dtype=np.float16),
               "valuesIndices": np.array([[3, 1], [0, 2]], dtype=np.int32), "empty": np.zeros((0, 4), dtype=np.float32)}
    body = bytes(safetensors.pack(tensors, {"json": "{}"}))
    (n,) = struct.unpack_from("<Q", body)
    assert n % 8 == 0
    read, metadata = safetensors.unpack(body)
    assert metadata == {"json": "{}"}
    for name, a in tensors.items():
        assert read[name].dtype == a.dtype and read[name].shape == a.shape
        np.testing.assert_array_equal(read[name], a)


def test_unpacked_arrays_are_views_of_the_body_not_copies():
    body = bytes(safetensors.pack({"x": np.ones((256, 1024), dtype=np.float32)}))
    x = safetensors.unpack(body)[0]["x"]
    assert np.shares_memory(x, np.frombuffer(body, dtype=np.uint8))
    assert not x.flags.writeable


def test_bfloat16_is_widened_to_float32():
    bits = np.array([0x3F80, 0xC000], dtype="<u2")  # 1.0, -2.0
    header = json.dumps({"x": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}).encode()
    body = struct.pack("<Q", len(header)) + header + bits.tobytes()
    x = safetensors.unpack(body)[0]["x"]
    assert x.dtype == np.float32 and list(x) == [1.0, -2.0]


def _file(header: bytes, data_bytes: int) -> bytes:
    return struct.pack("<Q", len(header)) + header + b"\0" * data_bytes


@pytest.mark.parametrize("body, message", [
    (b"\x01\x00", "at least 8 bytes"),
    (struct.pack("<Q", 100) + b"{}", "runs past the end"),
    (_file(b'{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', 8), "out of range"),
    (_file(b'{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', 8), "do not hold"),
])
def test_unpack_refuses_broken_files(body, message):
    with pytest.raises(ValueError, match=message):
        safetensors.unpack(body)


def test_a_safetensors_answer_decodes_to_the_json_structure_with_arrays_in_place():
    a = np.arange(4, dtype=np.float32).reshape(2, 2)
    answer = {"tokens": [1, 2], "captured": {"resid.post_attn": {"0": {"tensor": "captured/resid.post_attn/0"}}}}
    body = safetensors.pack({"captured/resid.post_attn/0": a}, {"json": json.dumps(answer)})
    decoded = decode_answer("application/x-safetensors", bytes(body))
    assert decoded["tokens"] == [1, 2]
    np.testing.assert_array_equal(decoded["captured"]["resid.post_attn"]["0"], a)


# A top-k answer as the service's C# writer lays it out (pinned in tests/Engine.Tests/Transport/SafetensorsAnswerTests.cs).
FROM_THE_SERVICE = ("KAEAAAAAAAB7Il9fbWV0YWRhdGFfXyI6eyJqc29uIjoie1wiYWN0aXZhdGlvbnNcIjp7XCJ0ZW5zb3JcIjpcImFjdGl2YXRpb25zXCJ9LFwiYWN0aXZhdGlvbnNJbmRpY2VzXCI6e1widGVuc29yXCI6XCJhY3RpdmF0aW9uc0luZGljZXNcIn0sXCJ0b2tlbnNcIjpbNDY0LDMxMzldfSJ9LCJhY3RpdmF0aW9uc0luZGljZXMiOnsiZHR5cGUiOiJJMzIiLCJzaGFwZSI6WzIsMV0sImRhdGFfb2Zmc2V0cyI6WzAsOF19LCJhY3RpdmF0aW9ucyI6eyJkdHlwZSI6IkYxNiIsInNoYXBlIjpbMiwxXSwiZGF0YV9vZmZzZXRzIjpbOCwxMl19fSAgIAcAAAAAAAAAAD4AxA==")


def test_an_answer_written_by_the_service_decodes():
    decoded = decode_answer("application/x-safetensors", base64.b64decode(FROM_THE_SERVICE))
    assert decoded["tokens"] == [464, 3139]
    assert decoded["activations"].dtype == np.float16 and decoded["activations"].tolist() == [[1.5], [-4.0]]
    assert decoded["activationsIndices"].dtype == np.int32 and decoded["activationsIndices"].tolist() == [[7], [0]]


def test_json_payloads_decode_float16_and_int32_as_well_as_float32():
    assert decode_tensor({"dtype": "int32", "shape": [2], "data": base64.b64encode(np.array([7, -1], "<i4").tobytes()).decode()}).tolist() == [7, -1]
    assert decode_tensor({"dtype": "int32", "shape": [2], "data": [7, -1]}).dtype == np.int32
    half = decode_tensor({"dtype": "float16", "shape": [1], "data": base64.b64encode(np.array([0.5], "<f2").tobytes()).decode()})
    assert half.dtype == np.float16 and half[0] == 0.5
    assert encode_tensor(np.zeros(2, np.float16))["dtype"] == "float16"
    assert encode_tensor(np.zeros(2, np.float64))["dtype"] == "float32"


def test_output_specs_use_the_wire_spelling():
    assert Output.top(32, "abs", positions=[-1], dtype="float16").to_wire() == {"positions": [-1], "topK": 32, "by": "abs", "dtype": "float16"}
    assert Output(indices=[3, 17]).to_wire() == {"indices": [3, 17]}


def test_topk_helpers_agree_with_a_sort():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((4, 50)).astype(np.float32)
    top = topk(a, 5, by="abs")
    for row in range(4):
        expected = sorted(range(50), key=lambda j: -abs(a[row, j]))[:5]
        assert [i for i, _ in top.pairs(row)] == expected
        assert [v for _, v in top.pairs(row)] == [float(a[row, j]) for j in expected]
    dense = top.dense(50)
    assert np.count_nonzero(dense) == 20
    np.testing.assert_array_equal(dense[np.arange(4)[:, None], top.indices], top.values)


# -- transport choice, against stand-in servers --------------------------------------------------------------------------

class _Server:
    """A local HTTP server for one behaviour: "old" (JSON only, 415 to safetensors), "new" (safetensors both ways),
    "mixed" (takes safetensors, answers JSON). /v1/activations answers residual * 2 and, with output.topK, a top-k."""

    def __init__(self, behaviour: str):
        self.behaviour = behaviour
        self.seen = []
        outer = self

        class Handler(StandInHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                kind = self.headers.get("Content-Type", "")
                outer.seen.append((kind, self.headers.get("Accept"), self.headers.get("X-API-Key")))
                if kind.startswith("application/x-safetensors"):
                    if outer.behaviour == "old":
                        return self.send(415, "application/problem+json", json.dumps({"status": 415, "detail": "Content-Type: expected application/json", "field": "Content-Type"}).encode())
                    tensors, metadata = safetensors.unpack(body)
                    fields = json.loads(metadata["request"])
                    residual = tensors["residual"]
                else:
                    fields = json.loads(body)
                    residual = decode_tensor(fields["residual"])
                answer = {"activations": residual * 2}
                if "output" in fields and "topK" in fields["output"]:
                    top = topk(answer["activations"], fields["output"]["topK"])
                    answer = {"activations": top.values, "activationsIndices": top.indices}
                if kind.startswith("application/x-safetensors") and outer.behaviour == "new":
                    names = {k: k for k in answer}
                    return self.send(200, "application/x-safetensors",
                                      bytes(safetensors.pack(answer, {"json": json.dumps({k: {"tensor": k} for k in names})})))
                wire = {k: ({"dtype": "int32", "shape": list(v.shape), "data": base64.b64encode(v.astype("<i4").tobytes()).decode()}
                            if v.dtype == np.int32 else encode_tensor(v)) for k, v in answer.items()}
                self.send(200, "application/json; charset=utf-8", json.dumps(wire).encode())

        self.server = StandInServer(Handler)
        self.url = self.server.url

    def close(self):
        self.server.close()


@pytest.fixture
def server(request):
    s = _Server(request.param)
    yield s
    s.close()


RESIDUAL = np.arange(12, dtype=np.float32).reshape(3, 4)


@pytest.mark.parametrize("server", ["old"], indirect=True)
def test_auto_uses_json_only_after_the_service_answers_415(server):
    client = ReconClient(server.url)
    np.testing.assert_array_equal(client.activations(RESIDUAL, 0, "mlp_neuron"), RESIDUAL * 2)
    assert client.transport == "json"
    assert "415" in client.negotiation
    client.activations(RESIDUAL, 0, "mlp_neuron")
    assert [kind.split(";")[0] for kind, _, _ in server.seen] == ["application/x-safetensors", "application/json", "application/json"]


@pytest.mark.parametrize("server", ["old"], indirect=True)
def test_a_pinned_safetensors_transport_never_falls_back(server):
    client = ReconClient(server.url, transport="safetensors")
    with pytest.raises(ReconError) as error:
        client.activations(RESIDUAL, 0, "mlp_neuron")
    assert error.value.status == 415
    assert client.transport == "safetensors"


@pytest.mark.parametrize("server", ["new"], indirect=True)
def test_auto_keeps_safetensors_when_the_service_speaks_it(server):
    client = ReconClient(server.url, api_key="k-123")
    top = client.activations(RESIDUAL, 0, "mlp_neuron", output=Output.top(2))
    assert client.transport == "safetensors"
    assert isinstance(top, TopK)
    np.testing.assert_array_equal(top.values, [[6, 4], [14, 12], [22, 20]])
    np.testing.assert_array_equal(top.indices, [[3, 2]] * 3)
    assert server.seen == [("application/x-safetensors", "application/x-safetensors", "k-123")]


@pytest.mark.parametrize("server", ["mixed"], indirect=True)
@pytest.mark.parametrize("transport", ["auto", "safetensors"])
def test_a_json_answer_to_a_safetensors_request_is_a_transport_error(server, transport):
    with pytest.raises(TransportError, match="answered application/json"):
        ReconClient(server.url, transport=transport).activations(RESIDUAL, 0, "mlp_neuron")


@pytest.mark.parametrize("server", ["new"], indirect=True)
def test_a_pinned_json_transport_sends_json_and_reads_int32_indices(server):
    client = ReconClient(server.url, transport="json")
    top = client.activations(RESIDUAL, 0, "mlp_neuron", output={"topK": 1})
    np.testing.assert_array_equal(top.indices, [[3]] * 3)
    assert top.indices.dtype == np.int32
    assert server.seen[0][0].startswith("application/json")


def test_an_unknown_transport_is_refused():
    with pytest.raises(ValueError):
        ReconClient("http://127.0.0.1:9", transport="msgpack")
