"""Offline tests of the client's retries (against a small local stand-in server, no ReconService needed): once after a
connection error, after 503/429 as Retry-After says (bounded in count and in wait), never on other errors."""

import json

import numpy as np
import pytest

import reconclient.client as client_module
from reconclient import ReconClient, ReconError, safetensors
from standin import StandInHandler, StandInServer


class _Flaky:
    """Answers the first ``failures`` requests with ``failure`` ("drop": closes the connection unanswered; or a status
    with ``retry_after``), then /v1/logprobs answers residual + 1 and /v1/forward a forward answer with tokenBytes."""

    def __init__(self, failure, failures: int, retry_after: str | None = None):
        self.requests = 0
        outer = self

        class Handler(StandInHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests += 1
                if outer.requests <= failures:
                    if failure == "drop":
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return
                    problem = json.dumps({"status": failure, "detail": "queue: busy", "field": "queue"}).encode()
                    self.send(failure, "application/problem+json", problem, {} if retry_after is None else {"Retry-After": retry_after})
                    return
                if self.path == "/v1/forward":
                    answer = json.dumps({"tokens": [1, 2], "tokenStrings": ["a", "\ufffd"], "tokenBytes": ["YQ==", "4g=="],
                                         "topPredictions": [], "captured": []}).encode()
                    kind = "application/json; charset=utf-8"
                else:
                    tensors, metadata = safetensors.unpack(body)
                    answer = bytes(safetensors.pack({"logprobs": tensors["residual"] + 1}, {"json": '{"logprobs":{"tensor":"logprobs"}}'}))
                    kind = safetensors.MEDIA_TYPE
                self.send(200, kind, answer)

        self.server = StandInServer(Handler)
        self.url = self.server.url

    def close(self):
        self.server.close()


@pytest.fixture
def slept(monkeypatch):
    """The waits the client asked for, without waiting."""
    waits = []
    monkeypatch.setattr(client_module.time, "sleep", waits.append)
    return waits


def _serve(*args, **kwargs):
    server = _Flaky(*args, **kwargs)
    return server, ReconClient(server.url, transport="safetensors")


RESIDUAL = np.zeros((2, 3), dtype=np.float32)


def test_a_connection_error_is_retried_once(slept):
    server, client = _serve("drop", 1)
    try:
        np.testing.assert_array_equal(client.logprobs(RESIDUAL), RESIDUAL + 1)
        assert server.requests == 2 and slept == []
    finally:
        server.close()


def test_a_second_connection_error_is_raised(slept):
    import requests
    server, client = _serve("drop", 2)
    try:
        with pytest.raises(requests.ConnectionError):
            client.logprobs(RESIDUAL)
        assert server.requests == 2
    finally:
        server.close()


@pytest.mark.parametrize("status", [503, 429])
def test_busy_answers_are_retried_after_their_retry_after(slept, status):
    server, client = _serve(status, 2, retry_after="3")
    try:
        np.testing.assert_array_equal(client.logprobs(RESIDUAL), RESIDUAL + 1)
        assert server.requests == 3 and slept == [3.0, 3.0]
    finally:
        server.close()


def test_retries_are_bounded_and_the_last_answer_is_raised(slept):
    server, client = _serve(503, 10, retry_after="1")
    try:
        with pytest.raises(ReconError) as error:
            client.logprobs(RESIDUAL)
        assert error.value.status == 503 and error.value.retry_after == 1.0
        assert server.requests == 3 and slept == [1.0, 1.0]  # retries=2
    finally:
        server.close()


def test_a_retry_after_beyond_the_bound_is_not_waited_for(slept):
    server, client = _serve(429, 1, retry_after="120")
    try:
        with pytest.raises(ReconError) as error:
            client.logprobs(RESIDUAL)
        assert error.value.status == 429 and server.requests == 1 and slept == []
    finally:
        server.close()


def test_a_busy_answer_without_retry_after_waits_one_second_and_other_errors_are_not_retried(slept):
    server, client = _serve(503, 1)
    try:
        client.logprobs(RESIDUAL)
        assert slept == [1.0]
    finally:
        server.close()
    server, client = _serve(422, 1)
    try:
        with pytest.raises(ReconError):
            client.logprobs(RESIDUAL)
        assert server.requests == 1
    finally:
        server.close()


def test_no_retries_when_asked_for_none(slept):
    server = _Flaky(503, 1, retry_after="0")
    try:
        with pytest.raises(ReconError):
            ReconClient(server.url, transport="safetensors", retries=0).logprobs(RESIDUAL)
        assert server.requests == 1
    finally:
        server.close()


def test_forward_reads_each_tokens_bytes_when_the_service_sends_them():
    server = _Flaky(503, 0)
    try:
        run = ReconClient(server.url, transport="json").forward(tokens=[1, 2])
        assert run.token_bytes == [b"a", b"\xe2"]
        assert run.token_strings == ["a", "\ufffd"]
    finally:
        server.close()


def test_retry_after_reads_seconds_and_http_dates():
    assert client_module.retry_after_seconds("2") == 2.0
    assert client_module.retry_after_seconds(None) is None
    assert client_module.retry_after_seconds("soon") is None
    assert client_module.retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
