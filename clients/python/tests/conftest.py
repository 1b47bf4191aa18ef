import os
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from reconclient import ReconClient  # noqa: E402


@pytest.fixture(scope="session")
def client() -> ReconClient:
    """A client of the live service at RECON_URL (default http://127.0.0.1:5000), once it is ready."""
    c = ReconClient(os.environ.get("RECON_URL", "http://127.0.0.1:5000"))
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
def info(client):
    return client.model()


@pytest.fixture(scope="session")
def run(client, info):
    """A forward pass over a verse capturing what the tests feed back in."""
    return client.forward(
        prompt="In the beginning God created the heaven and the earth.",
        capture=["resid.post_emb", "resid.post_attn", "resid.post_mlp", "resid.delta_attn", "resid.delta_mlp", "mlp.post_act", "attn.qk_probs"],
    )
