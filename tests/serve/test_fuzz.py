"""Fuzzing every endpoint with hypothesis-generated bodies (in-process, bounded): whatever
arrives, the answer is a 2xx or a 4xx with a JSON ``error``, never a 5xx, and the server
still answers afterwards."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnkit.serve.app import Settings, create_app

NAMES = ("sentiment", "seqclass", "charlm", "generator", "forecast", "seq2seq")
PATHS = [f"/v1/models/{name}/{endpoint}" for name in (*NAMES, "nobody")
         for endpoint in ("predict", "generate", "forecast", "translate")]  # fmt: skip
FIELDS = ["text", "texts", "sequence", "sequences", "trace", "prime", "length", "temperature",
          "top_k", "top_p", "seed", "condition", "count", "stream", "history", "horizon",
          "beam", "word"]  # fmt: skip

scalars = (
    st.none() | st.booleans() | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30)
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
bodies = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), values, max_size=5)


@pytest.fixture(scope="module")
def client(tiny_runs):
    app = create_app([tiny_runs / name for name in NAMES], Settings(max_delay_ms=0))
    with TestClient(app) as client:
        yield client


def _check(response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert isinstance(response.json()["error"], str)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(path=st.sampled_from(PATHS), body=bodies)
def test_json_bodies_never_give_a_5xx(client, path, body):
    if isinstance(body.get("length"), int) and body["length"] > 50:
        body["length"] = 50  # valid lengths are fine, but a long generation is slow
    _check(client.post(path, json=body))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(path=st.sampled_from(PATHS), raw=st.binary(max_size=200))
def test_raw_bytes_never_give_a_5xx(client, path, raw):
    _check(client.post(path, content=raw, headers={"content-type": "application/json"}))


def test_the_server_still_answers(client):
    assert client.get("/healthz").status_code == 200
    answer = client.post("/v1/models/sentiment/predict", json={"text": "a joy"})
    assert answer.status_code == 200 and json.loads(answer.text)["label"] in ("neg", "pos")
