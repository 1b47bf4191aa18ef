import os
import sys
import time

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from reconclient import ReconClient  # noqa: E402

URL = os.environ.get("RECON_URL", "http://127.0.0.1:5000")
# Set to 1 once the service speaks safetensors / reads `output`: the tests that need it then fail instead of skipping.
REQUIRE_SAFETENSORS = os.environ.get("RECON_REQUIRE_SAFETENSORS") == "1"
REQUIRE_OUTPUT = os.environ.get("RECON_REQUIRE_OUTPUT") == "1"


def _ready(c: ReconClient) -> ReconClient:
    deadline = time.time() + 60
    while True:
        try:
            if c.ready():
                return c
        except Exception:  # noqa: BLE001 - not up yet
            pass
        if time.time() > deadline:
            pytest.fail(f"service at {c.base_url} is not ready")
        time.sleep(0.5)


@pytest.fixture(scope="session")
def server_transport() -> str:
    """What the live service speaks: the transport an auto client settles on after one small call."""
    probe = _ready(ReconClient(URL))
    probe.resid_delta_mlp(np.zeros((1, probe.model()["config"]["dModel"]), dtype=np.float32), 0)
    return probe.transport


@pytest.fixture(scope="session", params=["json", "safetensors"])
def client(request, server_transport) -> ReconClient:
    """A client of the live service at RECON_URL (default http://127.0.0.1:5000), pinned to one transport."""
    if request.param == "safetensors" and server_transport != "safetensors":
        message = "the service does not take safetensors requests (it answered 415)"
        if REQUIRE_SAFETENSORS:
            pytest.fail(message)
        pytest.skip(message + "; RECON_REQUIRE_SAFETENSORS=1 makes this a failure")
    return _ready(ReconClient(URL, transport=request.param))


@pytest.fixture(scope="session")
def info(client):
    return client.model()


@pytest.fixture(scope="session")
def run(client, info):
    """A forward pass over a verse capturing what the tests feed back in."""
    return client.forward(
        prompt="In the beginning God created the heaven and the earth.",
        capture=["resid.post_emb", "resid.post_attn", "resid.post_mlp", "resid.delta_attn", "resid.delta_mlp", "mlp.post_act", "attn.qk_probs"],
    )
